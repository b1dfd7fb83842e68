"""The API key, signing key and request id tables (schema ``auth``) and their queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from drawdown.auth.keys import IssuedKey, issue_key, parse_token, secret_matches
from drawdown.auth.roles import Role
from drawdown.clock import Clock, SystemClock
from drawdown.db.idempotency import idempotency_table
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
    sa.Column("expire_at", sa.DateTime(timezone=True)),
    sa.Column("last_used_at", sa.DateTime(timezone=True)),
    sa.Index("api_keys_newest_first", "created_at", "id"),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("secret", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
idempotency_keys = idempotency_table(metadata)
PAGE_TOKENS = "page_tokens"

# A key's last use is written when the stored one is older than this: at most one write
# per key a minute from each server process, however busy the key.
LAST_USE_PRECISION = timedelta(minutes=1)


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
    """Who is calling: an API key's id and role, and when the key expires (None: never)."""

    key_id: str
    role: Role
    expire_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expire_at is not None and self.expire_at <= now


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    id: str
    role: Role
    label: str
    created_at: datetime
    expire_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


def create_key(database_url: str, role: Role, label: str, clock: Clock | None = None) -> IssuedKey:
    """Store a new key (synchronously: for bootstrapping and tests) and return it with its
    one-time token."""
    issued = issue_key()
    now = (clock or SystemClock()).now()
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            "INSERT INTO auth.api_keys (id, role, label, secret_hash, created_at) VALUES (%s, %s, %s, %s, %s)",
            (issued.key_id, role.value, label, issued.secret_hash, now),
        )
    return issued


def key_is_valid(database_url: str, token: str) -> bool:
    """Whether ``token`` names a stored, unrevoked, unexpired key with that secret
    (synchronous, for the CLI)."""
    parsed = parse_token(token)
    if parsed is None:
        return False
    key_id, secret = parsed
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute(
            "SELECT secret_hash FROM auth.api_keys WHERE id = %s AND revoked_at IS NULL"
            " AND (expire_at IS NULL OR expire_at > now())",
            (key_id,),
        ).fetchone()
    return row is not None and secret_matches(secret, row[0])


async def authenticate(engine: AsyncEngine, token: str, now: datetime) -> Principal | None:
    """The principal of an unrevoked key with that secret (expired or not: the caller says
    which), or None for a malformed, unknown, revoked or wrong token. Notes the key's use."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(
                    api_keys.c.role, api_keys.c.secret_hash, api_keys.c.expire_at, api_keys.c.last_used_at
                ).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            )
        ).first()
        if row is None or not secret_matches(secret, row.secret_hash):
            return None
        if row.last_used_at is None or row.last_used_at <= now - LAST_USE_PRECISION:
            await conn.execute(sa.update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))
            await conn.commit()
    return Principal(key_id=key_id, role=Role(row.role), expire_at=row.expire_at)


_KEY_COLUMNS = (
    api_keys.c.id,
    api_keys.c.role,
    api_keys.c.label,
    api_keys.c.created_at,
    api_keys.c.expire_at,
    api_keys.c.revoked_at,
    api_keys.c.last_used_at,
)


def _api_key(row: sa.Row) -> ApiKey:
    return ApiKey(
        id=row.id,
        role=Role(row.role),
        label=row.label,
        created_at=row.created_at,
        expire_at=row.expire_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


async def insert_key(
    session: AsyncSession, role: Role, label: str, created_at: datetime, expire_at: datetime | None
) -> tuple[ApiKey, str]:
    """Store a new key; returns it with its token, which is never stored."""
    issued = issue_key()
    await session.execute(
        sa.insert(api_keys).values(
            id=issued.key_id,
            role=role.value,
            label=label,
            secret_hash=issued.secret_hash,
            created_at=created_at,
            expire_at=expire_at,
        )
    )
    key = ApiKey(issued.key_id, role, label, created_at, expire_at, revoked_at=None, last_used_at=None)
    return key, issued.token


async def locked_key(session: AsyncSession, key_id: str) -> ApiKey | None:
    """The key, locked until the transaction ends; None if there is none."""
    row = (
        await session.execute(sa.select(*_KEY_COLUMNS).where(api_keys.c.id == key_id).with_for_update())
    ).first()
    return None if row is None else _api_key(row)


async def update_key(session: AsyncSession, key_id: str, **values: datetime) -> ApiKey:
    """Set ``revoked_at`` or ``expire_at`` of a key; returns it as it now is."""
    row = (
        await session.execute(
            sa.update(api_keys).where(api_keys.c.id == key_id).values(**values).returning(*_KEY_COLUMNS)
        )
    ).one()
    return _api_key(row)


async def list_keys(
    session: AsyncSession, before: tuple[datetime, str] | None, limit: int
) -> Sequence[ApiKey]:
    """Up to ``limit`` keys, newest first, after the key ``before`` (its create time and id)."""
    query = sa.select(*_KEY_COLUMNS).order_by(api_keys.c.created_at.desc(), api_keys.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(sa.tuple_(api_keys.c.created_at, api_keys.c.id) < sa.tuple_(*before))
    return [_api_key(row) for row in await session.execute(query)]
