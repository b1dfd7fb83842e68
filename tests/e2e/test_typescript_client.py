"""A TypeScript client generated from the contracts by buf.gen.yaml's TypeScript target
(protoc-gen-es), type-checked with tsc, calling a live suite over HTTP/JSON with Connect and
decoding a refusal's google.rpc.ErrorInfo and BadRequest (O-5)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from drawdown.cli import suite_in_background
from drawdown.config import Settings
from tests.e2e.test_drawdown_up import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "typescript"
BUF = shutil.which("buf", path=str(Path(sys.executable).parent)) or shutil.which("buf")


def typescript_template(out: Path) -> Path:
    """buf.gen.yaml with only its local plugins (protoc-gen-es): the remote ones need buf.build."""
    template = yaml.safe_load((ROOT / "buf.gen.yaml").read_text())
    template["plugins"] = [plugin for plugin in template["plugins"] if "local" in plugin]
    assert [plugin["local"] for plugin in template["plugins"]] == ["protoc-gen-es"]
    path = out / "buf.gen.yaml"
    path.write_text(yaml.safe_dump(template))
    return path


@pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None, reason="needs Node.js and npm"
)
def test_generated_typescript_client_type_checks_and_decodes_error_info_over_http(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert BUF is not None, "buf (PyPI buf-bin) is a dev dependency"
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"], cwd=EXAMPLE, check=True, capture_output=True, timeout=300
    )
    client = tmp_path / "client"
    client.mkdir()
    for name in ("client.ts", "tsconfig.json", "package.json"):
        shutil.copy(EXAMPLE / name, client / name)
    (client / "node_modules").symlink_to(EXAMPLE / "node_modules")
    tools = {**os.environ, "PATH": f"{EXAMPLE / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}"}
    generated = subprocess.run(
        [BUF, "generate", "--template", str(typescript_template(tmp_path)), "-o", str(client)],
        cwd=ROOT,
        env=tools,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert generated.returncode == 0, generated.stderr
    assert (client / "gen" / "ts" / "google" / "rpc" / "error_details_pb.ts").exists()
    checked = subprocess.run(
        ["tsc", "-p", "."], cwd=client, env=tools, capture_output=True, text=True, timeout=300
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("DRAWDOWN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DRAWDOWN_DATABASE_URL", database_url)
    http_port = free_port()
    for service in ("METERING", "CREDITS", "INVOICING"):
        monkeypatch.setenv(f"DRAWDOWN_{service}_PORT", str(free_port()))
        monkeypatch.setenv(f"DRAWDOWN_{service}_HTTP_PORT", str(free_port()))
    monkeypatch.setenv("DRAWDOWN_METERING_HTTP_PORT", str(http_port))

    with suite_in_background(Settings()):
        env = {
            **os.environ,
            "DRAWDOWN_METERING_HTTP": f"http://127.0.0.1:{http_port}",
            "DRAWDOWN_API_KEY": (tmp_path / ".drawdown" / "dev-api-key").read_text().strip(),
            "EVENT_NAME": "typescript_tokens",
        }
        result = subprocess.run(
            ["node", "dist/client.js"], cwd=client, env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["meter"]["id"].startswith("mtr_")
    assert output["meter"]["eventName"] == "typescript_tokens"
    refusal = output["refusal"]
    assert refusal["code"] == "InvalidArgument"
    assert refusal["domain"]  # the ErrorInfo decoded from its bytes, not an empty default
    assert refusal["reason"] == "INVALID_ARGUMENT"
    assert refusal["metadata"]["field"] == "meter.event_name"
    assert refusal["fields"] == ["meter.event_name"]
