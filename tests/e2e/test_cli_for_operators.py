"""The CLI as an operator meets it (O-7): one actionable line instead of a traceback when
something is misconfigured or missing, Ctrl-C, --version, help texts and `drawdown reset`."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from drawdown.cli import build_parser
from drawdown.config import SERVICES
from tests.e2e.test_drawdown_up import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTING = "Starting Drawdown"


def clean_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment without the caller's DRAWDOWN_* variables, on free ports, with ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAWDOWN_")}
    env.update({f"DRAWDOWN_{service.upper()}_PORT": str(free_port()) for service in SERVICES})
    env.update({f"DRAWDOWN_{service.upper()}_HTTP_PORT": str(free_port()) for service in SERVICES})
    env["DRAWDOWN_HOME"] = str(tmp_path / "home")
    env.update({f"DRAWDOWN_{name.upper()}": value for name, value in settings.items()})
    return env


def drawdown(
    *args: str, env: dict[str, str], cwd: Path = ROOT, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drawdown.cli", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_failure(result: subprocess.CompletedProcess[str], *mentions: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for mention in mentions:
        assert mention in lines[0], lines[0]


@pytest.mark.parametrize(
    "url",
    ["postgresql://drawdown:secret@127.0.0.1:1/drawdown", "mysql://drawdown@127.0.0.1/drawdown", "drawdown"],
    ids=["unreachable", "not-postgresql", "not-a-url"],
)
@pytest.mark.parametrize("command", ["migrate", "up"])
def test_a_wrong_database_url_is_one_line_naming_the_variable(command: str, url: str, tmp_path: Path) -> None:
    result = drawdown(command, env=clean_env(tmp_path, database_url=url))
    lines = [line for line in result.stderr.splitlines() if not line.startswith(STARTING)]
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and "DRAWDOWN_DATABASE_URL" in lines[0], result.stderr
    assert "secret" not in result.stderr


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process's socket listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_serve_on_a_port_in_use_is_one_line(database_url: str, taken_port: int, tmp_path: Path) -> None:
    env = clean_env(tmp_path, database_url=database_url, metering_port=str(taken_port))
    result = drawdown("serve", "metering", env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines() == [
        f"drawdown: metering cannot listen on 127.0.0.1:{taken_port}: another process is serving that port;"
        " choose another with DRAWDOWN_METERING_PORT or --port"
    ]


def test_up_with_a_port_in_use_names_it(database_url: str, taken_port: int, tmp_path: Path) -> None:
    env = clean_env(tmp_path, database_url=database_url, credits_port=str(taken_port))
    result = drawdown("up", env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"credits cannot listen on 127.0.0.1:{taken_port}" in result.stderr
    assert "DRAWDOWN_CREDITS_PORT" in result.stderr


@pytest.mark.parametrize("command", [["demo"], ["meters"], ["invoices", "--customer", "cus_1"]])
def test_no_suite_running_names_the_address_and_drawdown_up(command: list[str], tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(
        tmp_path, api_key="any", metering_address=f"127.0.0.1:{port}", invoicing_address=f"127.0.0.1:{port}"
    )
    result = drawdown(*command, env=env)
    assert_one_line_failure(result, f"127.0.0.1:{port}", "drawdown up")


def test_a_read_command_without_a_key_says_where_keys_come_from(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    del env["DRAWDOWN_HOME"]
    result = drawdown("meters", env=env, cwd=tmp_path)
    assert_one_line_failure(
        result, str(tmp_path / ".drawdown" / "dev-api-key"), "DRAWDOWN_API_KEY", "--api-key"
    )


def test_version_is_the_package_version(tmp_path: Path) -> None:
    result = drawdown("--version", env=clean_env(tmp_path))
    assert result.returncode == 0
    assert result.stdout.strip() == f"drawdown {importlib.metadata.version('drawdown')}"


def test_every_command_argument_and_option_has_help() -> None:
    missing = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing.extend(
                    f"{path} {choice.dest}" for choice in action._choices_actions if not choice.help
                )
                for name, command in action.choices.items():
                    walk(command, f"{path} {name}")
            elif not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "drawdown")
    assert missing == []


def start_up(env: dict[str, str]) -> subprocess.Popen[str]:
    """`drawdown up` in a session of its own, as a terminal's foreground job."""
    return subprocess.Popen(
        [sys.executable, "-m", "drawdown.cli", "up"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_line(stream, prefix: str) -> None:  # type: ignore[no-untyped-def]
    for line in stream:
        if line.startswith(prefix):
            return
    raise AssertionError(f"no line starting with {prefix!r}")


def ctrl_c(process: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGINT to the process group, as Ctrl-C in a terminal sends it; the exit code and stderr."""
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


@pytest.mark.parametrize("moment", ["starting", "up"])
def test_ctrl_c_stops_up_with_one_line_and_code_130(moment: str, database_url: str, tmp_path: Path) -> None:
    env = clean_env(tmp_path, database_url=database_url)
    process = start_up(env)
    try:
        if moment == "starting":
            wait_for_line(process.stderr, STARTING)
        else:
            wait_for_line(process.stdout, "Stop with Ctrl-C")
        code, stderr = ctrl_c(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 130
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert [line for line in stderr.splitlines() if line.startswith("drawdown:")] == [
        "drawdown: interrupted; stopped"
    ]
    for service in SERVICES:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", int(env[f"DRAWDOWN_{service.upper()}_PORT"]))) != 0


def test_reset_refuses_while_up_runs_then_deletes_only_the_database_and_dev_keys(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    home = tmp_path / "home"
    process = start_up(env)
    try:
        wait_for_line(process.stdout, "Stop with Ctrl-C")
        refused = drawdown("reset", "--yes", env=env)
        assert ctrl_c(process)[0] == 130
    finally:
        if process.poll() is None:
            process.kill()
    assert_one_line_failure(refused, str(home), "drawdown up")
    (home / "notes.txt").write_text("mine")

    declined = drawdown("reset", env=env, stdin="n\n")
    assert declined.returncode == 1 and (home / "postgres").exists()
    confirmed = drawdown("reset", env=env, stdin="y\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert sorted(path.name for path in home.iterdir()) == ["notes.txt"]


def test_reset_refuses_a_configured_database(tmp_path: Path) -> None:
    env = clean_env(tmp_path, database_url="postgresql://127.0.0.1:5432/drawdown")
    assert_one_line_failure(drawdown("reset", "--yes", env=env), "DRAWDOWN_DATABASE_URL")
