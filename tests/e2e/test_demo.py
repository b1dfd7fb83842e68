"""The Hypernian demo end to end: `drawdown demo --start` brings up the suite as separate
processes (the CLI's `up`: one process per service) on PostgreSQL and runs the Hypernian scenario."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.test_drawdown_up import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_demo_shows_the_hypernian_outcome_with_exact_figures(database_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAWDOWN_")}
    env.update(
        DRAWDOWN_DATABASE_URL=database_url,
        DRAWDOWN_HOME=str(tmp_path / "home"),
        DRAWDOWN_METERING_PORT=str(free_port()),
        DRAWDOWN_CREDITS_PORT=str(free_port()),
        DRAWDOWN_INVOICING_PORT=str(free_port()),
        DRAWDOWN_METERING_HTTP_PORT=str(free_port()),
        DRAWDOWN_CREDITS_HTTP_PORT=str(free_port()),
        DRAWDOWN_INVOICING_HTTP_PORT=str(free_port()),
    )
    result = subprocess.run(
        [sys.executable, "-m", "drawdown.cli", "demo", "--start", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)

    # The Hypernian example: 3,000 input tokens → line 90.00 USD, credits applied 10.00, amount due 80.00, grant balance 0.
    assert outcome["preview_credits"] == "10.00 USD"
    assert outcome["preview_amount_due"] == "80.00 USD"
    assert outcome["invoice_status"] == "open"
    assert outcome["invoice_subtotal"] == "90.00 USD"
    assert outcome["invoice_credits"] == "10.00 USD"
    assert outcome["invoice_amount_due"] == "80.00 USD"
    assert outcome["available_balance"] == "0.00 USD"
    assert outcome["ledger_balance"] == "0.00 USD"
    assert outcome["transactions"] == ["-10.00 USD credits_applied", "+10.00 USD credits_granted"]
    assert outcome["invoice_id"].startswith("in_")
