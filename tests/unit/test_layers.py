"""Rules between layers that a test can hold."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tracer"
PURE = ("events.py", "decode", "analysis", "export")


def test_core_imports_without_textual() -> None:
    code = (
        "import sys, tracer.events, tracer.decode, tracer.capture, tracer.report, tracer.cli\n"
        "assert 'textual' not in sys.modules, 'textual imported by the core'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_pure_layers_start_no_processes_and_talk_to_no_gdb() -> None:
    forbidden = {"subprocess", "socket", "pygdbmi", "textual", "tracer.target", "multiprocessing"}
    for entry in PURE:
        root = PACKAGE / entry
        files = [root] if root.is_file() else sorted(root.rglob("*.py"))
        for path in files:
            bad = {
                name
                for name in _imports(path)
                if any(name == f or name.startswith(f + ".") for f in forbidden)
            }
            assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_only_target_reads_pygdbmi() -> None:
    for path in PACKAGE.rglob("*.py"):
        if "target" in path.relative_to(PACKAGE).parts:
            continue
        assert not any(n.startswith("pygdbmi") for n in _imports(path)), path
