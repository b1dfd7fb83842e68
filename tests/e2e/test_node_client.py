"""The Node.js client example (examples/node) against a live suite: record usage, read the
balance, preview the invoice, with @grpc/grpc-js loading the .proto files at run time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from drawdown.cli import suite_in_background
from drawdown.config import Settings
from drawdown.demo import Demo
from tests.e2e.test_drawdown_up import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node"


@pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None, reason="needs Node.js and npm"
)
def test_node_client_records_usage_reads_the_balance_and_previews_the_invoice(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"], cwd=EXAMPLE, check=True, capture_output=True, timeout=300
    )
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("DRAWDOWN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DRAWDOWN_DATABASE_URL", database_url)
    for service in ("METERING", "CREDITS", "INVOICING"):
        monkeypatch.setenv(f"DRAWDOWN_{service}_PORT", str(free_port()))
        monkeypatch.setenv(f"DRAWDOWN_{service}_HTTP_PORT", str(free_port()))

    with suite_in_background(Settings()) as settings:
        demo = Demo(settings, Console(quiet=True))
        try:
            prepared = demo.prepare()
        finally:
            demo.close()
        env = {
            **os.environ,
            "DRAWDOWN_METERING_ADDRESS": settings.metering_address,
            "DRAWDOWN_CREDITS_ADDRESS": settings.credits_address,
            "DRAWDOWN_INVOICING_ADDRESS": settings.invoicing_address,
            "DRAWDOWN_API_KEY": (tmp_path / ".drawdown" / "dev-api-key").read_text().strip(),
        }
        result = subprocess.run(
            [
                "node",
                "client.mjs",
                "--customer",
                prepared.customer_id,
                "--subscription",
                prepared.subscription_id,
                "--event-name",
                "hypernian_input_tokens",
                "--value",
                "1200",
                "--timestamp",
                prepared.start.isoformat(),
            ],
            cwd=EXAMPLE,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["event"]["duplicate"] is False
    assert output["balance"] == [
        {
            "available": {"currency": "USD", "units": "10", "nanos": 0},
            "ledger": {"currency": "USD", "units": "10", "nanos": 0},
        }
    ]
    preview = output["preview"]
    # 1,200 input tokens × 3 ¢ = 36.00 USD; the 10 USD grant pays 10.00 of it.
    assert preview["subtotal"] == {"currency": "USD", "units": "36", "nanos": 0}
    assert preview["credits"] == {"currency": "USD", "units": "10", "nanos": 0}
    assert preview["amount_due"] == {"currency": "USD", "units": "26", "nanos": 0}
