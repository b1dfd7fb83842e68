"""Where settings come from besides plain variables: key files, and the embedded PostgreSQL
being an optional extra."""

from __future__ import annotations

import sys
from pathlib import Path

import pydantic
import pytest

from drawdown.config import Settings
from drawdown.db.embedded import start_embedded_postgres


def test_the_service_key_is_read_from_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "service-api-key"
    key_file.write_text("dd_service_token\n")
    monkeypatch.setenv("DRAWDOWN_SERVICE_API_KEY_FILE", str(key_file))
    assert Settings().service_api_key == "dd_service_token"


def test_a_service_key_set_directly_wins_over_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRAWDOWN_SERVICE_API_KEY_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("DRAWDOWN_SERVICE_API_KEY", "dd_direct_token")
    assert Settings().service_api_key == "dd_direct_token"


def test_a_missing_service_key_file_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRAWDOWN_SERVICE_API_KEY_FILE", str(tmp_path / "absent"))
    with pytest.raises(pydantic.ValidationError, match="DRAWDOWN_SERVICE_API_KEY_FILE"):
        Settings()


def test_without_the_embedded_extra_an_unset_database_url_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "embedded_postgres", None)  # as if not installed
    with pytest.raises(SystemExit, match=r"DRAWDOWN_DATABASE_URL.*drawdown\[embedded\]"):
        start_embedded_postgres(tmp_path)
