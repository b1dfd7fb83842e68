"""The suite as a whole: which services exist, where the database is, dev keys, the
home a running suite holds."""

from __future__ import annotations

import fcntl
import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
    """A key kept in ``home/<name>`` for local use, created on first need (``key_in_file``)."""
    return key_in_file(url, home / name, role, label=f"{name} (drawdown up)").token


@dataclass(frozen=True)
class KeyInFile:
    token: str
    created: bool


def key_in_file(url: str, path: Path, role: Role, label: str) -> KeyInFile:
    """The key whose token ``path`` holds, or a new one (stored hashed) written there.

    The token file is readable by its owner only; a token that no longer verifies (a new
    database, a revoked key) is replaced.
    """
    if path.exists():
        token = path.read_text().strip()
        if auth_store.key_is_valid(url, token):
            return KeyInFile(token, created=False)
    issued = auth_store.create_key(url, role, label=label)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(issued.token + "\n")
    return KeyInFile(issued.token, created=True)


class HomeInUse(Exception):
    """Another running ``drawdown up`` holds the DRAWDOWN_HOME (O-1)."""


@contextmanager
def holding_home(home: Path) -> Iterator[None]:
    """Hold ``home`` for one running suite (O-1): an exclusive lock on ``home/up.lock``,
    which the system lets go of when the process ends, however it ends."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "up.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip()
            raise HomeInUse(
                f"{home.resolve()} is in use by another drawdown up"
                + (f" (pid {holder})" if holder else "")
                + "; stop it or set DRAWDOWN_HOME to another folder"
            ) from None
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield
