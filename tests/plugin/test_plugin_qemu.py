"""The plugin booting the real guest inside a pytest run (pytester): the README's example,
the marker, the factory, and a failing test whose trace is kept and readable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from plugin_support import plugin_args

import tracer.api  # noqa: F401 - imported before pytester snapshots sys.modules
import tracer.capture  # noqa: F401
import tracer.pytest_plugin  # noqa: F401
from tracer.events import SyscallEntry
from tracer.store import TraceReader

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.qemu

REPO = Path(__file__).resolve().parents[2]
USER = REPO / "guest" / "build" / "user"

# The README's five-line example, word for word.
README_EXAMPLE = """\
import pytest
from tracer.pytest_plugin import assert_syscalls
@pytest.mark.guest(programs=["guest/build/user/hello-glibc"])
def test_hello(guest_trace):
    assert_syscalls(guest_trace, ["arch_prctl", "set_tid_address", "write", "exit_group"])
"""


@pytest.fixture(autouse=True)
def tools_and_guest() -> None:
    import shutil
    import subprocess

    for tool in ("qemu-system-x86_64", "gdb"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    proc = subprocess.run(
        ["make", "-C", str(REPO / "guest"), "-j2"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"make -C guest failed: {proc.stderr[-1000:]}")


def test_the_readme_example_passes(pytester: pytest.Pytester) -> None:
    assert len(README_EXAMPLE.splitlines()) == 5
    pytester.makepyfile(test_plugin_inner_readme=README_EXAMPLE)
    (pytester.path / "guest").symlink_to(REPO / "guest")
    pytester.runpytest(*plugin_args()).assert_outcomes(passed=1)


TESTS = f"""
import pytest
from tracer.api import syscall
from tracer.pytest_plugin import assert_no_findings, assert_segbase, assert_syscalls

HELLO_MUSL = {str(USER / "hello-musl")!r}


def test_default_is_the_built_in_hello(guest_trace):
    assert guest_trace.guest_status == 0
    assert_syscalls(guest_trace, ["arch_prctl", "write", "exit_group"])
    assert_segbase(guest_trace, [("fs", "arch_prctl")], inferred=False)


@pytest.mark.guest(programs=[HELLO_MUSL], cmdline="verbose=1")
def test_marker_sets_programs_and_cmdline(guest_trace):
    assert guest_trace.reader.meta["cmdline"] == "verbose=1"
    assert {{p.name for p in guest_trace.events(kinds="process")}} == {{"hello-musl"}}


def test_factory_with_until(tracer_capture):
    trace = tracer_capture([HELLO_MUSL], until=syscall("writev"))
    assert trace.result.reason == "until"
    assert "writev" in trace.syscalls() and "exit_group" not in trace.syscalls()


def test_guest_failures_are_data(tracer_capture):
    crash = tracer_capture([({str(USER / "crash")!r}, ["null"])])
    assert crash.guest_status == 1
    assert crash.program_statuses == {{"crash": None}}  # killed by the kernel: no exit
    assert "killed by #PF" in crash.console


def test_a_clean_guest_has_no_findings(guest_trace):
    assert_no_findings(guest_trace)


@pytest.mark.guest(cmdline="tls=broken")
def test_broken_tls_is_caught_by_the_checker(guest_trace):
    with pytest.raises(pytest.fail.Exception, match="kernel-on-app-tcb"):
        assert_no_findings(guest_trace, rules=["kernel-on-app-tcb"])


@pytest.mark.guest(programs=[HELLO_MUSL])
def test_fails_on_purpose(guest_trace):
    assert_syscalls(guest_trace, ["write", "brk"], mode="exact")
"""


def test_marker_factory_and_a_kept_trace(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plugin_inner_guest=TESTS)
    result = pytester.runpytest(*plugin_args(), "-rf")
    result.assert_outcomes(passed=6, failed=1)
    output = result.stdout.str()
    assert "syscalls differ (- expected, + actual)" in output
    kept = [Path(p) for p in re.findall(r"trace kept: (\S+)", output)]
    assert len(kept) == 1 and kept[0].exists()
    with TraceReader.open(kept[0]) as reader:
        assert sum(isinstance(e, SyscallEntry) for e in reader.events()) >= 5
