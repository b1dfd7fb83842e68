"""The operator read commands as a user runs them: processes reading a live suite through
the public API with the dev key, as JSON for scripts and as tables for people."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from drawdown.cli import suite_in_background
from drawdown.config import Settings
from drawdown.demo import run_demo
from tests.e2e.test_drawdown_up import free_port


def test_read_commands_show_the_demo_outcome(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("DRAWDOWN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DRAWDOWN_DATABASE_URL", database_url)
    for service in ("METERING", "CREDITS", "INVOICING"):
        monkeypatch.setenv(f"DRAWDOWN_{service}_PORT", str(free_port()))
        monkeypatch.setenv(f"DRAWDOWN_{service}_HTTP_PORT", str(free_port()))

    with suite_in_background(Settings()) as settings:
        outcome = run_demo(settings, as_json=True)
        env = {
            **os.environ,
            "DRAWDOWN_METERING_ADDRESS": settings.metering_address,
            "DRAWDOWN_CREDITS_ADDRESS": settings.credits_address,
            "DRAWDOWN_INVOICING_ADDRESS": settings.invoicing_address,
        }

        def drawdown(*args: str) -> str:
            result = subprocess.run(
                [sys.executable, "-m", "drawdown.cli", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0, result.stderr
            return result.stdout

        customer = outcome.customer_id
        meters = json.loads(drawdown("meters", "--json"))
        input_meter = next(m for m in meters if m["event_name"] == "hypernian_input_tokens")
        invoice = json.loads(drawdown("invoice", outcome.invoice_id, "--json"))
        # The invoiced period, widened to whole minutes (summary ranges are minute-aligned).
        period_start = datetime.fromisoformat(invoice["period_start"]).replace(second=0, microsecond=0)
        period_end = datetime.fromisoformat(invoice["period_end"]).replace(second=0, microsecond=0)
        usage = json.loads(
            drawdown(
                "usage",
                input_meter["id"],
                "--customer",
                customer,
                "--json",
                "--start",
                period_start.isoformat(),
                "--end",
                (period_end + timedelta(minutes=1)).isoformat(),
            )
        )
        grants = json.loads(drawdown("grants", "--customer", customer, "--json"))
        balance = json.loads(drawdown("balance", "--customer", customer, "--json"))
        transactions = json.loads(drawdown("transactions", "--customer", customer, "--json"))
        invoices = json.loads(drawdown("invoices", "--customer", customer, "--json"))
        invoice_table = drawdown("invoice", outcome.invoice_id)
        piped_tables = drawdown("transactions", "--customer", customer) + drawdown("meters")
        missing = subprocess.run(
            [sys.executable, "-m", "drawdown.cli", "invoice", "in_missing"],
            env=env,
            capture_output=True,
            text=True,
        )

    assert [row["aggregated_value"]["value"] for row in usage] == ["3000"]
    assert [(g["status"], g["available_balance"]["currency_code"]) for g in grants] == [
        ("CREDIT_GRANT_STATUS_DEPLETED", "USD")
    ]
    assert [b["ledger_balance"] for b in balance] == [
        {"currency_code": "USD"}
    ]  # zero amounts are omitted in JSON
    assert [t["type"] for t in transactions] == [
        "CREDIT_BALANCE_TRANSACTION_TYPE_DEBIT",
        "CREDIT_BALANCE_TRANSACTION_TYPE_CREDIT",
    ]
    assert [i["id"] for i in invoices] == [outcome.invoice_id]
    assert invoice["amount_due"] == {"currency_code": "USD", "units": "80"}
    assert invoice["total_credits_applied"] == {"currency_code": "USD", "units": "10"}
    assert (
        "80.00 USD" in invoice_table
        and "90.00 USD" in invoice_table
        and "Hypernian input tokens" in invoice_table
    )
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
    # Piped, a table's rows are as wide as they need: every id stays whole on one line.
    ids = {m["id"] for m in meters} | {customer, outcome.invoice_id}
    ids |= {t["id"] for t in transactions} | {t["credit_grant_id"] for t in transactions}
    assert [i for i in ids if not any(i in line for line in piped_tables.splitlines())] == []
