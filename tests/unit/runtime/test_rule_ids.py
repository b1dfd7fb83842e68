"""Every rule id the code, the contracts and the docs cite (M-11, C-13, I-18, X-5, …) is a
rule of ``docs/behaviour.md``, the repository's own statement of what the services do."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BEHAVIOUR = ROOT / "docs" / "behaviour.md"
RULE_ID = re.compile(r"\b([MCIXREOD]-\d+)\b")
HEADING = re.compile(r"^#### ([MCIXREOD]-\d+)\. ", re.MULTILINE)


def _tracked_sources() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [
        ROOT / name
        for name in listed.stdout.split()
        if name.endswith((".py", ".proto", ".md")) and "_pb2" not in name and "node_modules" not in name
    ]


def test_every_cited_rule_id_is_a_rule_of_the_behaviour_document() -> None:
    defined = set(HEADING.findall(BEHAVIOUR.read_text()))
    unknown = {
        rule: str(path.relative_to(ROOT))
        for path in _tracked_sources()
        if path != BEHAVIOUR and path.exists()
        for rule in RULE_ID.findall(path.read_text())
        if rule not in defined
    }
    assert unknown == {}
