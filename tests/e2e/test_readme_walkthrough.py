"""The README's grpcurl walkthrough and its authorize → capture sequel, run exactly as
written against a live suite, so the README cannot drift from what the services do; after
`drawdown demo`, as a new user runs them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from drawdown.cli import suite_in_background
from drawdown.config import Settings
from tests.e2e.test_drawdown_up import free_port

README = Path(__file__).resolve().parents[2] / "README.md"
LLM_GATEWAY = Path(__file__).resolve().parents[2] / "examples" / "python" / "llm_gateway.py"
# What the Python example prints once the README's blocks ran: 3.20 spendable.
LLM_GATEWAY_OUTPUT = """served 30 tokens, billed 0.90
refused: the customer can spend 230 cents
refused: the customer can spend 230 cents
"""


def _block(marker: str) -> str:
    match = re.search(
        rf"<!-- {marker}:start -->\n```\w*\n(.*?)```\n<!-- {marker}:end -->", README.read_text(), re.S
    )
    assert match, f"README has no {marker} block"
    return match.group(1)


def test_readme_walkthrough_prints_what_the_readme_says_after_the_demo(
    database_url: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the walkthrough reads .drawdown/dev-api-key from here
    for key in [k for k in os.environ if k.startswith("DRAWDOWN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DRAWDOWN_DATABASE_URL", database_url)
    ports = {service: free_port() for service in ("METERING", "CREDITS", "INVOICING")}
    for service, port in ports.items():
        monkeypatch.setenv(f"DRAWDOWN_{service}_PORT", str(port))
        monkeypatch.setenv(f"DRAWDOWN_{service}_HTTP_PORT", str(free_port()))

    with suite_in_background(Settings()):
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # grpcurl from the venv
            **{service: f"127.0.0.1:{port}" for service, port in ports.items()},
            **{f"DRAWDOWN_{service}_ADDRESS": f"127.0.0.1:{port}" for service, port in ports.items()},
        }
        demo = subprocess.run(
            [sys.executable, "-m", "drawdown.cli", "demo", "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert demo.returncode == 0, demo.stderr
        result = subprocess.run(
            [
                "bash",
                "-euo",
                "pipefail",
                "-c",
                _block("walkthrough")
                + _block("authorize")
                + f'"{sys.executable}" "{LLM_GATEWAY}" "$INVOICING" "$KEY" "$CUSTOMER" "$INPUT_PRICE"\n',
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == _block("walkthrough-output") + _block("authorize-output") + LLM_GATEWAY_OUTPUT


def test_readme_curl_walkthrough_runs_the_scenario_over_http_json(
    database_url: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("DRAWDOWN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DRAWDOWN_DATABASE_URL", database_url)
    http_ports = {service: free_port() for service in ("METERING", "CREDITS", "INVOICING")}
    for service, port in http_ports.items():
        monkeypatch.setenv(f"DRAWDOWN_{service}_PORT", str(free_port()))
        monkeypatch.setenv(f"DRAWDOWN_{service}_HTTP_PORT", str(port))

    with suite_in_background(Settings()):
        env = {**os.environ, **{f"{s}_HTTP": f"http://127.0.0.1:{port}" for s, port in http_ports.items()}}
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", _block("curl-walkthrough")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout == _block("curl-walkthrough-output")
