"""Files that must stay true to the code: the README, CI and docker-compose."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from drawdown.config import Settings

ROOT = Path(__file__).resolve().parents[3]
TEST_COMMAND = "python -m pip install -e '.[dev]' && python -m pytest"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert TEST_COMMAND in readme
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text()


def test_readme_configuration_table_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"`(DRAWDOWN_[A-Z_]+)`", readme))
    for name in Settings.model_fields:
        assert f"DRAWDOWN_{name.upper()}" in documented, name


def test_docker_compose_is_valid_and_wires_the_suite() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "migrate", "metering", "credits", "invoicing"} <= set(services)
    for name in ("metering", "credits", "invoicing"):
        service = services[name]
        assert service["command"] == ["serve", name]
        assert service["environment"]["DRAWDOWN_DATABASE_URL"].startswith("postgresql://")
        assert "healthcheck" in service
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["migrate"]
    invoicing_env = services["invoicing"]["environment"]
    assert invoicing_env["DRAWDOWN_METERING_ADDRESS"] == "metering:50051"
    assert invoicing_env["DRAWDOWN_CREDITS_ADDRESS"] == "credits:50052"
    assert (ROOT / "Dockerfile").exists()
