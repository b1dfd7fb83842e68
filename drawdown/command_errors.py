"""Failures the ``drawdown`` command reports in one line that says what to do, not a traceback."""

from __future__ import annotations

import psycopg
import sqlalchemy.exc
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from drawdown.config import Settings

DATABASE_ERRORS = (sqlalchemy.exc.OperationalError, psycopg.OperationalError)


class CommandError(Exception):
    """A failure whose message, one line, tells the operator what is wrong and what to do."""


def database_problem(settings: Settings, error: Exception) -> str:
    """Why the database could not be used, naming the database and the variable that chose it."""
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    if not settings.database_url:
        return (
            f"the embedded PostgreSQL under {settings.home.resolve()} failed: {reason}; "
            "set DRAWDOWN_HOME to another folder, or DRAWDOWN_DATABASE_URL to your own PostgreSQL"
        )
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    return f"cannot use the database of DRAWDOWN_DATABASE_URL ({where}): {reason}"


def settings_problem(error: ValidationError) -> str:
    """Each invalid ``DRAWDOWN_*`` variable with what is wrong with it (never its value)."""
    return "; ".join(
        f"DRAWDOWN_{'_'.join(str(part) for part in problem['loc']).upper()}: {problem['msg'].removeprefix('Value error, ')}"
        for problem in error.errors()
    )
