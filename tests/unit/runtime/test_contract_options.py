"""What client generation relies on in the contracts (O-5): every Drawdown file names its Go
package after its proto package, and the google.rpc error protos a client decodes details
with are shipped beside them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
PROTOS = ROOT / "protos"
GO_MODULE = "github.com/drawdown-billing/drawdown/gen/go"


@pytest.mark.parametrize("path", sorted((PROTOS / "drawdown").rglob("*.proto")), ids=lambda p: p.name)
def test_every_file_names_its_go_package_after_its_proto_package(path: Path) -> None:
    text = path.read_text()
    (package,) = re.findall(r"^package ([\w.]+);", text, re.M)
    (go_package,) = re.findall(r'^option go_package = "([^"]+)";', text, re.M)
    _, service, version = package.split(".")
    assert go_package == f"{GO_MODULE}/drawdown/{service}/{version};{service}{version}"


def test_the_google_rpc_error_protos_are_shipped() -> None:
    for name in ("status.proto", "code.proto", "error_details.proto"):
        text = (PROTOS / "google" / "rpc" / name).read_text()
        assert "Licensed under the Apache License, Version 2.0" in text
        assert re.search(r"^package google\.rpc;", text, re.M)
    assert "message ErrorInfo" in (PROTOS / "google" / "rpc" / "error_details.proto").read_text()


def test_buf_gen_has_go_and_typescript_targets() -> None:
    template = yaml.safe_load((ROOT / "buf.gen.yaml").read_text())
    assert template["version"] == "v2" and template["inputs"] == [{"directory": "protos"}]
    plugins = {plugin.get("remote") or plugin.get("local"): plugin for plugin in template["plugins"]}
    assert {"buf.build/protocolbuffers/go", "buf.build/grpc/go", "protoc-gen-es"} <= set(plugins)
    assert "target=ts" in plugins["protoc-gen-es"]["opt"]
