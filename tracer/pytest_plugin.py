"""pytest plugin: boot a guest inside a test, hand the test its trace, assert on it.

    import pytest
    from tracer.pytest_plugin import assert_syscalls

    @pytest.mark.guest(programs=["guest/build/user/hello-glibc"])
    def test_hello(guest_trace):
        assert_syscalls(guest_trace, ["brk", "arch_prctl", "write", "exit_group"])

Fixtures: `guest_trace` (one capture, configured by the `guest` marker) and `tracer_capture`
(a factory for tests that need several). Helpers: `assert_syscalls`, `assert_segbase`,
`assert_no_findings`. A failing test's trace file is kept and its path printed in the report
(`--tracer-keep=failed`, the default; `all` or `none`); `--tracer-dir DIR` copies kept traces
there, for CI artifacts. Tests that need QEMU or gdb skip with the reason when either is missing.
"""

from __future__ import annotations

import difflib
import os
import shutil
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from tracer.events import Event, SegBaseChange, SegCause, SyscallEntry

if TYPE_CHECKING:
    from tracer.analysis.checks import Finding
    from tracer.capture import CaptureResult
    from tracer.store import TraceReader

Mode = Literal["subsequence", "exact", "prefix"]
TRACES_KEY = pytest.StashKey[list["GuestTrace"]]()
REPORTS_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()
KEEP_CHOICES = ("failed", "all", "none")

__all__ = [
    "GuestTrace",
    "assert_no_findings",
    "assert_segbase",
    "assert_syscalls",
    "segbase_changes",
    "syscall_names",
]


# --- what a test gets ---------------------------------------------------------------------------


@dataclass
class GuestTrace:
    """One capture's result and its trace, read through the trace reader API."""

    path: Path
    result: CaptureResult
    _reader: TraceReader | None = field(default=None, repr=False)

    @property
    def reader(self) -> TraceReader:
        if self._reader is None:
            from tracer.store import TraceReader

            self._reader = TraceReader.open(self.path)
        return self._reader

    def events(self, **filters: Any) -> Iterator[Event]:
        return self.reader.events(**filters)

    def syscalls(self, pid: int | None = None) -> list[str]:
        return syscall_names(self, pid=pid)

    @property
    def guest_status(self) -> int | None:
        return self.result.guest_status

    @property
    def program_statuses(self) -> dict[str, int | None]:
        """Each program's exit status as the trace saw it (None: it never exited)."""
        return {p.path.name: p.status for p in self.result.programs}

    @property
    def console(self) -> str:
        return self.result.console

    def findings(self) -> list[Finding]:
        """What the invariant checker says about this trace (as `tracer check` does)."""
        from tracer.analysis.checks import Checker
        from tracer.analysis.kernel_facts import kernel_facts

        meta = self.reader.meta
        kernel = Path(meta["kernel"]) if meta.get("kernel") else None
        facts, symbolize = kernel_facts(kernel, meta)
        return list(Checker(facts, symbolize).check(self.events()))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


TraceLike = GuestTrace | Iterable[Event] | str | os.PathLike[str]


def _events(trace: TraceLike) -> Iterator[Event]:
    """Events from a GuestTrace, any TraceSource (saved or live), a path, or an iterable."""
    if isinstance(trace, GuestTrace):
        yield from trace.events()
    elif isinstance(trace, str | os.PathLike):
        from tracer.store import TraceReader

        with TraceReader.open(trace) as reader:
            yield from reader.events()
    elif hasattr(trace, "events") and callable(trace.events):
        yield from trace.events()
    else:
        yield from trace


# --- syscall sequences ------------------------------------------------------------------------


def syscall_names(trace: TraceLike, pid: int | None = None) -> list[str]:
    """The syscalls entered, in order, named as strace names them (unknown: syscall_0x...)."""
    from tracer.decode.strace import syscall_name

    return [
        syscall_name(e.nr)
        for e in _events(trace)
        if isinstance(e, SyscallEntry) and (pid is None or e.pid == pid)
    ]


def assert_syscalls(
    trace: TraceLike, expected: Sequence[str], *, mode: Mode = "subsequence", pid: int | None = None
) -> None:
    """The syscalls made match `expected`: in order with others between (`subsequence`, the
    default), from the first one on (`prefix`), or all and only these (`exact`)."""
    actual = syscall_names(trace, pid)
    who = "" if pid is None else f" of pid {pid}"
    _assert_sequence(actual, list(expected), mode, f"syscalls{who}")


def _assert_sequence(actual: list[str], expected: list[str], mode: Mode, what: str) -> None:
    __tracebackhide__ = True
    if mode == "exact":
        if actual != expected:
            pytest.fail(
                f"{what} differ (- expected, + actual):\n" + _diff(expected, actual), pytrace=False
            )
    elif mode == "prefix":
        head = actual[: len(expected)]
        if head != expected:
            rest = actual[len(expected) :]
            pytest.fail(
                f"{what} do not start as expected (- expected, + actual):\n"
                + _diff(expected, head)
                + (f"\n  then: {_clip(rest, 10)}" if rest else ""),
                pytrace=False,
            )
    elif mode == "subsequence":
        message = _subsequence_problem(actual, expected, what)
        if message:
            pytest.fail(message, pytrace=False)
    else:
        raise ValueError(f"mode must be subsequence, prefix or exact, not {mode!r}")


def _diff(expected: list[str], actual: list[str]) -> str:
    lines = difflib.unified_diff(expected, actual, "expected", "actual", lineterm="", n=2)
    return "\n".join(f"  {line}" for line in list(lines)[2:])


def _subsequence_problem(actual: list[str], expected: list[str], what: str) -> str | None:
    position = 0
    matched: list[str] = []
    for index, name in enumerate(expected):
        try:
            position = actual.index(name, position) + 1
        except ValueError:
            after = f" after {matched[-1]} (#{position - 1})" if matched else ""
            rest = actual[position : position + 12]
            more = " ..." if len(actual) > position + 12 else ""
            return (
                f"{what}: {name!r} (expected #{index}) not found{after}\n"
                f"  matched in order: {', '.join(matched) or '(nothing)'}\n"
                f"  still expected:   {', '.join(expected[index:])}\n"
                f"  actual from there: {', '.join(rest) or '(end of trace)'}{more}\n"
                f"  all {len(actual)} {what}: {_clip(actual)}"
            )
        matched.append(name)
    return None


def _clip(names: list[str], limit: int = 40) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


# --- segment-base changes -----------------------------------------------------------------------

SegExpectation = tuple[str, str] | tuple[str, str, int]
"""(which, cause) or (which, cause, new value): which is fs, gs or kgs; cause a SegCause value."""


def segbase_changes(
    trace: TraceLike, which: str | None = None, *, inferred: bool = True
) -> list[SegBaseChange]:
    """FS/GS/KERNEL_GS_BASE changes in order; `inferred=False` keeps only observed ones."""
    return [
        e
        for e in _events(trace)
        if isinstance(e, SegBaseChange)
        and (which is None or e.which == which)
        and (inferred or not e.inferred)
    ]


def assert_segbase(
    trace: TraceLike,
    expected: Sequence[SegExpectation],
    *,
    which: str | None = None,
    mode: Mode = "subsequence",
    inferred: bool = True,
) -> None:
    """The segment-base changes match `expected`, e.g. `[("fs", "arch_prctl")]` or
    `[("fs", "arch_prctl", 0x4ac380)]`, in the same modes as `assert_syscalls`."""
    changes = segbase_changes(trace, which, inferred=inferred)
    width = {len(item) for item in expected} or {2}
    if len(width) != 1:
        raise ValueError("expected items must all be (which, cause) or all (which, cause, new)")
    with_value = width == {3}
    actual = [_seg_key(c.which, c.cause, c.new if with_value else None) for c in changes]
    wanted = [
        _seg_key(item[0], item[1], item[2] if len(item) == 3 else None)  # type: ignore[misc]
        for item in expected
    ]
    _assert_sequence(actual, wanted, mode, "segment-base changes")


def _seg_key(which: str, cause: str | SegCause, new: int | None) -> str:
    cause_text = SegCause(cause).value
    return f"{which}:{cause_text}" + ("" if new is None else f"={new:#x}")


# --- checker ----------------------------------------------------------------------------------


def assert_no_findings(trace: GuestTrace, rules: Iterable[str] | None = None) -> None:
    """The invariant checker finds nothing (or nothing under these rules)."""
    __tracebackhide__ = True
    wanted = set(rules) if rules is not None else None
    findings = [f for f in trace.findings() if wanted is None or f.rule in wanted]
    if findings:
        lines = [f"  event {f.seq}: {f.rule}: {f.message}" for f in findings[:20]]
        more = f"\n  ... {len(findings) - 20} more" if len(findings) > 20 else ""
        pytest.fail(
            f"{len(findings)} finding(s) in {trace.path}:\n" + "\n".join(lines) + more,
            pytrace=False,
        )


# --- fixtures -----------------------------------------------------------------------------------

CaptureFactory = Callable[..., GuestTrace]


def _require_tools() -> None:
    for tool in ("qemu-system-x86_64", "gdb"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (the tracer needs QEMU and gdb)")


@pytest.fixture
def tracer_capture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CaptureFactory]:
    """A factory: `tracer_capture(programs, cmdline=..., until=..., **limits) -> GuestTrace`.

    Programs are paths or (path, args) pairs; the kernel is the built-in guest unless
    `kernel=`/`boot_image=` (or `--tracer-kernel`) say otherwise. A capture the tool itself
    could not finish (gdb or QEMU died) fails the test unless `check=False`; what the guest
    did (its status, a hang, a crash) is in `trace.result` for the test to judge.
    """
    traces = request.node.stash.setdefault(TRACES_KEY, [])
    config = request.config

    def capture(
        programs: Sequence[Any] = (),
        *,
        cmdline: str = "",
        kernel: Any = None,
        boot_image: Any = None,
        until: Callable[[Event], bool] | None = None,
        check: bool = True,
        **limits: Any,
    ) -> GuestTrace:
        __tracebackhide__ = True
        from tracer.api import InputError, Session

        _require_tools()
        kernel = kernel or config.getoption("tracer_kernel")
        output = tmp_path / f"trace-{len(traces) + 1}.db"
        limits.setdefault("timeout", config.getoption("tracer_timeout"))
        try:
            session = Session(
                programs, kernel=kernel, boot_image=boot_image, cmdline=cmdline, output=output
            )
        except InputError as exc:
            pytest.fail(f"tracer: {exc}", pytrace=False)
        with session:
            result = session.run(until, **limits)
        trace = GuestTrace(output, result)
        traces.append(trace)
        if check and result.error:
            pytest.fail(f"capture failed: {result.failure()} (trace: {output})", pytrace=False)
        return trace

    yield capture
    for trace in traces:
        trace.close()


@pytest.fixture
def guest_trace(request: pytest.FixtureRequest, tracer_capture: CaptureFactory) -> GuestTrace:
    """The trace of one capture, set up by `@pytest.mark.guest(programs=[...], cmdline=...,
    kernel=..., boot_image=..., until=..., timeout=..., max_events=...)`; without the marker,
    the built-in guest running its glibc hello."""
    marker = request.node.get_closest_marker("guest")
    kwargs = dict(marker.kwargs) if marker is not None else {}
    if marker is not None and marker.args:
        kwargs.setdefault("programs", marker.args[0])
    return tracer_capture(kwargs.pop("programs", ()), **kwargs)


# --- hooks --------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tracer", "tracer: guest captures in tests")
    group.addoption(
        "--tracer-keep",
        choices=KEEP_CHOICES,
        default="failed",
        help="which tests' trace files to keep: failed (default), all, none",
    )
    group.addoption(
        "--tracer-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="copy kept trace files into DIR (e.g. for CI artifacts)",
    )
    group.addoption(
        "--tracer-kernel",
        type=Path,
        default=None,
        metavar="ELF",
        help="kernel ELF for captures that name none (default: the built-in guest)",
    )
    group.addoption(
        "--tracer-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="limit for each capture (default 300)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "guest(programs=[...], cmdline='', kernel=None, boot_image=None, **limits): "
        "what the guest_trace fixture boots (needs qemu-system-x86_64 and gdb)",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    traces = item.stash.get(TRACES_KEY, [])
    if not traces:
        return report
    item.stash.setdefault(REPORTS_KEY, {})[report.when] = report
    if report.failed and item.config.getoption("tracer_keep") != "none":
        kept = [_keep(item, trace) for trace in traces]
        report.sections.append(("tracer", "\n".join(f"trace kept: {p}" for p in kept)))
    return report


def _keep(item: pytest.Item, trace: GuestTrace) -> Path:
    """The trace's path, copied into --tracer-dir when given."""
    directory: Path | None = item.config.getoption("tracer_dir")
    if directory is None:
        return trace.path
    directory.mkdir(parents=True, exist_ok=True)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in item.nodeid)
    target = directory / f"{safe}-{trace.path.name}"
    if not target.exists():
        shutil.copyfile(trace.path, target)
    return target


def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Remove the trace files of a test that passed, unless --tracer-keep=all."""
    keep = item.config.getoption("tracer_keep")
    reports = item.stash.get(REPORTS_KEY, {})
    failed = any(r.failed for r in reports.values())
    if keep == "all" or (keep == "failed" and failed):
        for trace in item.stash.get(TRACES_KEY, []):
            if keep == "all":
                _keep(item, trace)
        return
    for trace in item.stash.get(TRACES_KEY, []):
        trace.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{trace.path}{suffix}").unlink(missing_ok=True)
