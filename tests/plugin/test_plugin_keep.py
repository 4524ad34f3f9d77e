"""The plugin inside a pytest run (pytester), without QEMU: the capture is a fake that writes
a small trace, so these test the fixtures, the options and the kept-trace report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from plugin_support import plugin_args

import tracer.api  # noqa: F401 - imported before pytester snapshots sys.modules
import tracer.pytest_plugin  # noqa: F401
from tracer.store import TraceReader

pytest_plugins = ["pytester"]

FAKE_CAPTURE = '''
import types
import pytest
import tracer.api
import tracer.pytest_plugin
from tracer.events import SegBases, SyscallEntry
from tracer.store import TraceWriter

NR = {"brk": 12, "arch_prctl": 158, "write": 1, "exit_group": 231}


class FakeSession:
    """Writes a trace of four syscalls instead of booting anything."""

    def __init__(self, programs, *, output, **options):
        self.output = output

    def run(self, until=None, **limits):
        with TraceWriter(self.output) as writer:
            for seq, name in enumerate(["brk", "arch_prctl", "write", "exit_group"], 1):
                writer.append(SyscallEntry(seq, seq, 0, 1, 0, NR[name], (0,) * 6, 0, 0, 0, 0,
                                           (), SegBases(0, 0, 0), 0))
        return types.SimpleNamespace(error=None, guest_status=0, console="",
                                     failure=lambda: None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


@pytest.fixture(autouse=True)
def no_qemu(monkeypatch):
    monkeypatch.setattr(tracer.api, "Session", FakeSession)
    monkeypatch.setattr(tracer.pytest_plugin, "_require_tools", lambda: None)
'''

TESTS = """
import pytest
from tracer.pytest_plugin import assert_syscalls


@pytest.mark.guest(programs=["a.out"])
def test_passes(guest_trace):
    assert_syscalls(guest_trace, ["brk", "write"])


@pytest.mark.guest(programs=["a.out"])
def test_fails(guest_trace):
    assert_syscalls(guest_trace, ["brk", "read"])


def test_two_captures_one_failure(tracer_capture):
    first = tracer_capture(["a.out"])
    second = tracer_capture(["b.out"])
    assert first.syscalls() == second.syscalls()
    assert False, "fails on purpose"
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(FAKE_CAPTURE)
    pytester.makepyfile(test_plugin_inner_suite=TESTS)
    return pytester


def inner_traces(pytester: pytest.Pytester) -> list[Path]:
    """Trace files left in the inner run's temporary directories (pytester's basetemp)."""
    return list((pytester.path.parent / "basetemp").rglob("trace-*.db"))


def kept_paths(output: str) -> list[Path]:
    return [Path(p) for p in re.findall(r"trace kept: (\S+)", output)]


def test_options_and_marker_are_registered(pytester: pytest.Pytester) -> None:
    help_text = pytester.runpytest(*plugin_args(), "--help").stdout.str()
    for option in ("--tracer-keep", "--tracer-dir", "--tracer-kernel", "--tracer-timeout"):
        assert option in help_text
    markers = pytester.runpytest(*plugin_args(), "--markers").stdout.str()
    assert "@pytest.mark.guest(programs=[...]" in markers


def test_a_failing_test_keeps_its_trace_and_says_where(suite: pytest.Pytester) -> None:
    result = suite.runpytest(*plugin_args())
    result.assert_outcomes(passed=1, failed=2)
    output = result.stdout.str()
    assert "'read' (expected #1) not found after brk (#0)" in output
    kept = kept_paths(output)
    assert len(kept) == 3  # test_fails' one, and both of test_two_captures_one_failure's
    for path in kept:
        with TraceReader.open(path) as reader:
            assert reader.count() == 4
    left = inner_traces(suite)
    assert sorted(left) == sorted(kept), "a passing test's trace is removed by default"


def test_keep_all_and_copy_to_a_directory(suite: pytest.Pytester, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    result = suite.runpytest(*plugin_args(), "--tracer-keep=all", f"--tracer-dir={artifacts}")
    result.assert_outcomes(passed=1, failed=2)
    copies = sorted(p.name for p in artifacts.iterdir())
    assert len(copies) == 4
    assert any(name.startswith("test_plugin_inner_suite.py__test_passes") for name in copies)
    assert all(p.parent == artifacts for p in kept_paths(result.stdout.str()))


def test_keep_none(suite: pytest.Pytester) -> None:
    result = suite.runpytest(*plugin_args(), "--tracer-keep=none")
    result.assert_outcomes(passed=1, failed=2)
    assert "trace kept" not in result.stdout.str()
    assert list(inner_traces(suite)) == []
