"""What the probe modules may import: the gdb agent loads them in gdb's own Python, where only
the standard library is installed (no pyelftools, capstone or pygdbmi)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tracer"
PROBES = sorted((PACKAGE / "probes").glob("*.py"))
# Top-level imports a probe module may make besides the standard library.
ALLOWED = ("tracer.events", "tracer.decode", "tracer.probes", "tracer.tls_owners")
HEAVY = ("elftools", "capstone", "pygdbmi")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(
        ".__init__"
    )


def _top_level_imports(path: Path) -> set[str]:
    """Imports run when the module loads: not inside functions or `if TYPE_CHECKING:`."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_every_probe_module_imports_without_elf_disassembler_or_mi() -> None:
    modules = [_module(p) for p in PROBES]
    assert "tracer.probes.registry" in modules and "tracer.probes.syscall" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_probe_modules_import_only_stdlib_and_pure_tracer_modules_at_top_level() -> None:
    stdlib = sys.stdlib_module_names
    for path in PROBES:
        for name in _top_level_imports(path):
            root = name.split(".")[0]
            ok = root in stdlib or root == "__future__" or name.startswith(ALLOWED)
            assert ok, f"{path.name} imports {name} at load time"


def test_probes_do_not_import_analysis() -> None:
    for path in PROBES:
        names = {
            node.module
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not {n for n in names if n.startswith("tracer.analysis")}, path.name


def test_probes_package_import_is_light() -> None:
    code = (
        "import sys, tracer.probes\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('tracer.'))\n"
        "assert loaded == ['tracer.probes'], loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_agent_finds_kinds_beside_it_with_only_the_standard_library() -> None:
    """The agent's imports, under `python -I -S` (no site-packages) like gdb's python3."""
    code = (
        f"import sys; sys.path.insert(0, {str(PACKAGE.parent)!r})\n"
        "import tracer.probes.registry, tracer.probes.stops, tracer.probes.kinds\n"
    )
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True)
    assert result.returncode == 0, result.stderr.decode()


def test_tls_owner_rules_sit_below_probes_and_analysis() -> None:
    """`tracer.tls_owners` serves both, so it imports neither (nor anything impure)."""
    path = PACKAGE / "tls_owners.py"
    for name in _top_level_imports(path):
        root = name.split(".")[0]
        pure = name.startswith(("tracer.events", "tracer.decode"))
        assert root in sys.stdlib_module_names or root == "__future__" or pure, name
    from tracer.analysis import tls  # noqa: PLC0415
    from tracer.tls_owners import OwnerKind, TlsOwners  # noqa: PLC0415

    assert (tls.TlsOwners, tls.OwnerKind) == (TlsOwners, OwnerKind)  # one set of rules
