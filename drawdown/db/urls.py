"""Database URL handling: one spelling in, the psycopg 3 driver out."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url


def sqlalchemy_url(url: str) -> URL:
    """Accept ``postgresql://``, ``postgres://`` or ``postgresql+psycopg://`` and use psycopg 3."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"only PostgreSQL is supported, got {parsed.get_backend_name()!r}")
    return parsed.set(drivername="postgresql+psycopg")


def libpq_url(url: str) -> str:
    """The same database as a plain libpq URL (for psycopg.connect and psql)."""
    return sqlalchemy_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    """The same server, another database."""
    return sqlalchemy_url(url).set(database=database).render_as_string(hide_password=False)
