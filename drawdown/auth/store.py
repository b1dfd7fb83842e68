"""The API key and signing key tables (schema ``auth``) and their queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from drawdown.auth.keys import IssuedKey, issue_key, parse_token, secret_matches
from drawdown.auth.roles import Role
from drawdown.clock import Clock, SystemClock
from drawdown.db.migrations import MigrationSet
from drawdown.db.urls import libpq_url

SCHEMA = "auth"
MIGRATIONS = MigrationSet(schema=SCHEMA, script_location="drawdown.auth:migrations")

metadata = sa.MetaData(schema=SCHEMA)
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("secret_hash", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("secret", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
PAGE_TOKENS = "page_tokens"


async def signing_key(engine: AsyncEngine, name: str) -> bytes:
    """The secret called ``name``, made by the migrations and shared by every replica."""
    async with engine.connect() as conn:
        secret = (
            await conn.execute(sa.select(signing_keys.c.secret).where(signing_keys.c.name == name))
        ).scalar()
    if secret is None:
        raise LookupError(f"no signing key {name!r}: run the auth migrations")
    return bytes(secret)


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key's id and role."""

    key_id: str
    role: Role


def create_key(database_url: str, role: Role, label: str, clock: Clock | None = None) -> IssuedKey:
    """Store a new key (synchronously: used by the CLI) and return it with its one-time token."""
    issued = issue_key()
    now = (clock or SystemClock()).now()
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            "INSERT INTO auth.api_keys (id, role, label, secret_hash, created_at) VALUES (%s, %s, %s, %s, %s)",
            (issued.key_id, role.value, label, issued.secret_hash, now),
        )
    return issued


def key_is_valid(database_url: str, token: str) -> bool:
    """Whether ``token`` names a stored, unrevoked key with that secret (synchronous, for the CLI)."""
    parsed = parse_token(token)
    if parsed is None:
        return False
    key_id, secret = parsed
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute(
            "SELECT secret_hash FROM auth.api_keys WHERE id = %s AND revoked_at IS NULL", (key_id,)
        ).fetchone()
    return row is not None and secret_matches(secret, row[0])


async def authenticate(engine: AsyncEngine, token: str) -> Principal | None:
    """The principal of a valid token, or None for a malformed, unknown, revoked or wrong one."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(api_keys.c.role, api_keys.c.secret_hash).where(
                    api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)
                )
            )
        ).first()
    if row is None or not secret_matches(secret, row.secret_hash):
        return None
    return Principal(key_id=key_id, role=Role(row.role))


def revoke_key(database_url: str, key_id: str, at: datetime) -> bool:
    with psycopg.connect(libpq_url(database_url)) as conn:
        cursor = conn.execute(
            "UPDATE auth.api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL", (at, key_id)
        )
        return cursor.rowcount == 1
