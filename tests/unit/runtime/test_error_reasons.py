"""The error reasons the code raises are the ones the contracts document, and back
(X-2): a reason added in code without its .proto comment, or left in a comment
after the code stopped raising it, fails here.

Reasons are read from the code (``reason=`` and ``..._reason=`` arguments: strings, module
constants, ``reasons.NAME`` of a reasons module; tables named ``*_REASONS`` or ``*_SQLSTATES``) and from the comments of each service's protos;
the shared runtime's reasons are documented once, in ``drawdown/type/v1``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import grpc
import pytest

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ("metering", "credits", "invoicing")
# Invoicing answers with the reasons of the services it calls when it passes their
# refusals on (a grant limit, a meter that does not exist).
PEERS = {"metering": (), "credits": (), "invoicing": ("metering", "credits")}
# Shared rules of some services, kept in the shared package: their reasons are documented
# in the contracts of the services that follow them, not in the shared ones.
SHARED_RULES = {"drawdown/test_clocks.py": ("metering", "credits"), "drawdown/events/servicer.py": SERVICES}
# The ApiKeyService every service serves: its reasons are documented in its own contracts.
AUTH = "drawdown/auth"
STATUS_CODES = {code.name for code in grpc.StatusCode}
UPPER_SNAKE = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
ENUM_VALUE = re.compile(r"^\s*([A-Z][A-Z0-9_]*)\s*=\s*-?\d+")
OPTION_REASON = re.compile(r'reason:\s*"([A-Z][A-Z0-9_]+)"')
# How the code names the reasons modules (``from metering_service.domain import reasons``).
_REASON_MODULES = {"reasons", "shared"}


def _reason_values(node: ast.expr, constants: dict[str, str]) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in constants:
        return [constants[node.id]]
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in _REASON_MODULES
    ):
        return [node.attr]  # reasons.METER_INACTIVE: each constant is named as its value
    if isinstance(node, ast.BoolOp):  # reason or DEFAULT
        return [value for operand in node.values for value in _reason_values(operand, constants)]
    return []


def raised(package: str) -> dict[str, str]:
    """Every reason raised in ``package``'s code, with a file that raises it; a service's
    code includes the shared rules it follows (``SHARED_RULES``), the shared runtime not."""
    found: dict[str, str] = {}
    service = package.removesuffix("_service")
    rules = [ROOT / path for path, services in SHARED_RULES.items() if service in services]
    for path in sorted([*(ROOT / package).rglob("*.py"), *rules]):
        if "_pb2" in path.name or "migrations" in path.parts:
            continue
        relative = str(path.relative_to(ROOT))
        if package == "drawdown" and (relative in SHARED_RULES or relative.startswith(AUTH + "/")):
            continue
        tree = ast.parse(path.read_text())
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            if isinstance(node.value.value, str)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            values: list[str] = []
            if isinstance(node, ast.keyword) and node.arg and node.arg.endswith("reason"):
                values = _reason_values(node.value, constants)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                if any(name.endswith(("SQLSTATES", "REASONS")) for name in names):
                    values = [
                        r for v in node.value.values if v is not None for r in _reason_values(v, constants)
                    ]
            for value in values:
                if UPPER_SNAKE.fullmatch(value) and value not in STATUS_CODES:
                    found.setdefault(value, str(path.relative_to(ROOT)))
    return found


def enum_values() -> set[str]:
    """Every enum value of the contracts, and each one's name without its type prefix."""
    names: set[str] = set()
    for path in (ROOT / "protos" / "drawdown").rglob("*.proto"):
        for line in path.read_text().splitlines():
            match = ENUM_VALUE.match(line)
            if match:
                value = match.group(1)
                names |= {value, *("_".join(value.split("_")[i:]) for i in range(1, value.count("_") + 1))}
    return names


def documented(folder: str) -> set[str]:
    """The UPPER_SNAKE words of the comments under ``protos/drawdown/<folder>``, and the
    reasons declared in field options there, that are no enum value or status code."""
    words: set[str] = set()
    for path in (ROOT / "protos" / "drawdown" / folder).rglob("*.proto"):
        for line in path.read_text().splitlines():
            comment = line.partition("//")[2]
            words |= set(UPPER_SNAKE.findall(comment)) | set(OPTION_REASON.findall(line))
    return words - enum_values() - STATUS_CODES


SHARED = raised("drawdown")


def test_every_reason_of_the_shared_runtime_is_documented_in_the_shared_contracts() -> None:
    assert sorted(set(SHARED) - documented("type")) == []


def test_the_api_key_service_raises_the_reasons_its_contracts_document_and_no_other() -> None:
    code = raised(AUTH)
    assert sorted(set(code) - documented("auth") - documented("type")) == []
    assert sorted(documented("auth") - set(code) - set(SHARED)) == []


@pytest.mark.parametrize("service", SERVICES)
def test_every_reason_a_service_raises_is_documented_in_its_contracts(service: str) -> None:
    code = raised(f"{service}_service")
    known = documented(service) | documented("type")
    undocumented = {reason: where for reason, where in code.items() if reason not in known}
    assert undocumented == {}


@pytest.mark.parametrize("service", SERVICES)
def test_every_reason_the_contracts_document_is_raised(service: str) -> None:
    answered = set(SHARED) | set(raised(f"{service}_service"))
    for peer in PEERS[service]:
        answered |= set(raised(f"{peer}_service"))
    assert sorted(documented(service) - answered) == []


@pytest.mark.parametrize("package", ["drawdown", *(f"{service}_service" for service in SERVICES)])
def test_reasons_are_named_constants_not_strings_written_where_they_are_raised(package: str) -> None:
    written = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "_pb2" in path.name or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg and node.arg.endswith("reason"):
                if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                    written.append(f"{path.relative_to(ROOT)}:{node.value.lineno} {node.value.value}")
    assert written == []
