"""The suite as a whole: which services exist, where the database is, dev keys."""

from __future__ import annotations

import importlib
from pathlib import Path

from drawdown.auth import store as auth_store
from drawdown.auth.roles import Role
from drawdown.config import SERVICES, ServiceName, Settings
from drawdown.db.embedded import start_embedded_postgres
from drawdown.db.migrations import upgrade
from drawdown.rpc.server import ServiceDefinition

_DEFINITIONS = {service: f"{service}_service.app" for service in SERVICES}


def definition(service: ServiceName) -> ServiceDefinition:
    return importlib.import_module(_DEFINITIONS[service]).DEFINITION


def database_url(settings: Settings) -> str:
    """The configured database, or the embedded PostgreSQL under DRAWDOWN_HOME."""
    return settings.database_url or start_embedded_postgres(settings.home)


def migrate_all(url: str) -> None:
    upgrade(url, auth_store.MIGRATIONS)
    for service in SERVICES:
        for migration_set in definition(service).migrations:
            upgrade(url, migration_set)


def local_key(url: str, home: Path, role: Role, name: str) -> str:
    """A key kept in ``home/<name>`` for local use, created (and stored hashed) on first need.

    The token file is readable by its owner only; a token that no longer verifies (a new
    database, a revoked key) is replaced.
    """
    path = home / name
    if path.exists():
        token = path.read_text().strip()
        if auth_store.key_is_valid(url, token):
            return token
    issued = auth_store.create_key(url, role, label=f"{name} (drawdown up)")
    home.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(issued.token + "\n")
    return issued.token
