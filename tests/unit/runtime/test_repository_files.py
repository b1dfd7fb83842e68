"""Files that must stay true to the code: the README and CI (deployment files: test_deployment_files)."""

from __future__ import annotations

import re
from pathlib import Path

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
