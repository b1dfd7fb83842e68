"""Generate the Python stubs from ``protos/`` (the one command): ``python -m drawdown.protogen``.

Stubs are written next to this package (``drawdown/<service>/v1/*_pb2*.py``, with .pyi
type stubs) and committed, so a fresh clone installs without a generation step.
``--check`` regenerates into a temporary folder and fails if anything differs: CI runs
it so that protos and stubs can never disagree.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
GENERATED_ROOT = PROTOS / "drawdown"


def _proto_files() -> list[Path]:
    return sorted(GENERATED_ROOT.rglob("*.proto"))


def generate(out: Path) -> list[Path]:
    """Run protoc for every Drawdown proto into ``out``; return the files written."""
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    files = _proto_files()
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *(str(f) for f in files),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    written = []
    for proto in files:
        package_dir = out / proto.parent.relative_to(PROTOS)
        for parent in [package_dir, *package_dir.parents]:
            if parent == out or out not in parent.parents:
                break
            init = parent / "__init__.py"
            if not init.exists() and parent != out / "drawdown":
                init.write_text("")
    for path in sorted((out / "drawdown").rglob("*")):
        if path.is_file() and _is_generated(path, out):
            written.append(path.relative_to(out))
    return written


def _is_generated(path: Path, out: Path) -> bool:
    relative = path.relative_to(out / "drawdown")
    return (
        len(relative.parts) == 3
        and relative.parts[1] == "v1"
        or (path.name == "__init__.py" and len(relative.parts) in (2, 3))
    )


def check() -> int:
    """Exit status 1 and a list of files if the committed stubs differ from fresh ones."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        fresh = set(generate(out))
        committed = {p.relative_to(ROOT) for p in _committed_stubs()}
        problems = sorted(str(p) for p in fresh ^ committed)
        problems += sorted(
            str(p) for p in fresh & committed if not filecmp.cmp(out / p, ROOT / p, shallow=False)
        )
    if problems:
        print("Generated stubs are out of date; run `python -m drawdown.protogen`:", *problems, sep="\n  ")
        return 1
    print(f"Generated stubs match protos ({len(fresh)} files).")
    return 0


def _committed_stubs() -> list[Path]:
    found = []
    for service_dir in (ROOT / "drawdown").iterdir():
        version_dir = service_dir / "v1"
        if version_dir.is_dir():
            found.append(service_dir / "__init__.py")
            found.extend(p for p in version_dir.iterdir() if p.is_file() and p.suffix in (".py", ".pyi"))
    return [p for p in found if p.exists()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed stubs are out of date")
    args = parser.parse_args()
    if args.check:
        return check()
    for path in _committed_stubs():
        path.unlink()
    written = generate(ROOT)
    print(f"Wrote {len(written)} files under drawdown/.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
