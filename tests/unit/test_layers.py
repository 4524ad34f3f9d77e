"""Rules between layers that a test can hold (see tracer/__init__.py and DESIGN.md).

Every module under tracer/ is parsed with `ast`; an import counts wherever it stands (a
function-local import hides a dependency from nobody here).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tracer"
PURE = ("tracer.events", "tracer.decode", "tracer.analysis", "tracer.export")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _type_only(tree: ast.Module) -> set[int]:
    """Nodes under `if TYPE_CHECKING:`: imports for annotations, which never run."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return hidden


@cache
def _imports(module: str, runtime_only: bool = False) -> frozenset[str]:
    """Every module `module` imports, absolute; `from pkg import sub` counts as `pkg.sub`.
    `runtime_only` leaves out the imports under `if TYPE_CHECKING:`."""
    path = _modules()[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    names: set[str] = set()
    tree = ast.parse(path.read_text())
    hidden = _type_only(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                names.add(sub if sub in _modules() else source)
    names.discard(module)
    return frozenset(names)


def _violations(
    importers: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()
) -> list[str]:
    """`importer -> imported` for every module within `importers` (and not within `allowed`)
    that imports something within `forbidden`."""
    found = []
    for module in _modules():
        if not _within(module, importers) or any(_within(module, a) for a in allowed):
            continue
        for name in sorted(_imports(module)):
            if any(_within(name, f) for f in forbidden):
                found.append(f"{module} -> {name}")
    return found


def test_the_parser_sees_imports_of_every_kind() -> None:
    """The rules below are only as good as `_imports`: it must see local and relative ones."""
    assert "tracer.image.dwarf" in _imports("tracer.image.kernel_entry")  # relative
    assert "tracer.store.codec" in _imports("tracer.store.reader")  # `from pkg import sub`
    assert "tracer.analysis.kernel_facts" in _imports("tracer.api")  # function-local
    assert _violations("tracer.cli", ("tracer.commands",)) != []  # the check can fail


def test_core_imports_without_textual() -> None:
    code = (
        "import sys, tracer.events, tracer.decode, tracer.capture, tracer.report, tracer.cli\n"
        "import tracer.api, tracer.guest, tracer.analysis.checks, tracer.analysis.kernel_facts\n"
        "import tracer.export.jsonl, tracer.export.ftrace, tracer.export.chrome, tracer.store\n"
        "import tracer.tui, tracer.tui.open_trace, tracer.tui.view_models.timeline\n"
        "assert 'textual' not in sys.modules, 'textual imported by the core'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_events_imports_only_the_standard_library() -> None:
    names = _imports("tracer.events")
    assert all(name.split(".")[0] in sys.stdlib_module_names for name in names), names


def test_pure_layers_start_no_processes_and_talk_to_no_gdb() -> None:
    forbidden = ("subprocess", "socket", "pygdbmi", "textual", "multiprocessing", "tracer.target")
    for layer in PURE:
        assert _violations(layer, forbidden) == []


def test_only_the_cli_imports_the_commands() -> None:
    assert (
        _violations("tracer", ("tracer.commands",), allowed=("tracer.cli", "tracer.commands")) == []
    )


def test_nothing_in_the_product_imports_the_benchmarks() -> None:
    allowed = ("tracer.bench", "tracer.commands.bench")
    assert _violations("tracer", ("tracer.bench",), allowed=allowed) == []


def test_the_tui_reads_traces_and_never_drives_probes_or_commands() -> None:
    assert _violations("tracer.tui", ("tracer.probes", "tracer.commands", "tracer.target")) == []


def test_exporters_do_not_import_the_text_report() -> None:
    assert _violations("tracer.export", ("tracer.report",)) == []


def test_readers_do_not_import_probes_or_target() -> None:
    for reader in ("tracer.report", "tracer.export", "tracer.analysis", "tracer.store"):
        assert _violations(reader, ("tracer.probes", "tracer.target", "tracer.capture")) == []


def test_probes_do_not_import_analysis() -> None:
    assert _violations("tracer.probes", ("tracer.analysis",)) == []


def _cycles(graph: dict[str, frozenset[str]]) -> Iterator[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> Iterator[list[str]]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                yield from visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                yield sorted(component)

    for node in graph:
        if node not in index:
            yield from visit(node)


def test_no_import_cycles() -> None:
    # A type-only import back (a helper annotating the object that drives it) is no cycle.
    graph = {
        m: frozenset(n for n in _imports(m, runtime_only=True) if n in _modules())
        for m in _modules()
    }
    assert list(_cycles(graph)) == []
    assert list(_cycles({"a": frozenset({"b"}), "b": frozenset({"a"})})) == [["a", "b"]]


def test_only_target_reads_pygdbmi() -> None:
    assert _violations("tracer", ("pygdbmi",), allowed=("tracer.target",)) == []


MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def test_no_module_or_function_outgrows_its_limit() -> None:
    """A module past 450 lines or a function past 80 asks to be split along a line the domain
    draws (issue 10); this names every one that has grown past."""
    too_long = []
    for name, path in _modules().items():
        source = path.read_text()
        lines = source.count("\n")
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {length} lines")
    assert too_long == []
