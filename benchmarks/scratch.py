"""A throwaway database for a benchmark run."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from drawdown import suite
from drawdown.db.embedded import start_embedded_postgres
from drawdown.db.urls import libpq_url, with_database


@contextmanager
def scratch_database() -> Iterator[str]:
    """A fresh migrated database on ``DRAWDOWN_DATABASE_URL``'s server, else an embedded one."""
    server = os.environ.get("DRAWDOWN_DATABASE_URL") or start_embedded_postgres(
        Path(tempfile.mkdtemp(prefix="drawdown-bench-")), database="postgres"
    )
    name = f"drawdown_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server, name)
    suite.migrate_all(url)
    try:
        yield url
    finally:
        with psycopg.connect(libpq_url(server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
