"""Scripted captures: boot a kernel with programs, run until a condition, read typed events.

    from tracer.api import Session, open_trace, syscall

    with Session(["guest/build/user/hello-glibc"], output="trace.db") as session:
        for event in session.events(until=syscall("exit_group")):
            print(event.seq, event.kind)
    print(session.result.reason)            # "until", "guest-exit", "hang", ...
    with open_trace("trace.db") as trace:    # the same reader API, later
        print(trace.count(kinds="syscall_entry"))

`Session.run()` captures to the end and returns the `CaptureResult`; `Session.events()` yields
the events live while the capture runs in a worker thread. `until=` takes any predicate over
events: `syscall(...)`, `violation()` (the checker's first finding), `any_of(...)`, your own;
`max_events=`, `timeout=` and `idle_timeout=` bound it too. `Session.trace()` and
`open_trace(path)` read a saved trace through `TraceSource`, the reader API a live
`MemoryTrace` shares. Inputs are checked before anything boots: `InputError` says in one line
what is wrong with a kernel or a program.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Self, TypeAlias

from tracer.capture import (
    CaptureInterrupted,
    CaptureOptions,
    CaptureResult,
    CaptureStats,
    Program,
    StopRequest,
    capture,
)
from tracer.capture.options import ftrace_by_default
from tracer.events import Event, SyscallEntry
from tracer.guest import (
    BUILTIN_KERNEL,
    InputError,
    builtin_program,
    check_kernel,
    check_program,
    check_program_args,
    ensure_guest_built,
    find_boot_image,
)
from tracer.probes.plan import ALL_PROBES, Mode
from tracer.store import TraceFileError, TraceReader, TraceSource
from tracer.target.protocol import Target

ProgramSpec: TypeAlias = (
    str | os.PathLike[str] | Program | tuple[str | os.PathLike[str], Sequence[str]]
)
"""A program: a path, a (path, args) pair, or a `Program`."""

Until: TypeAlias = Callable[[Event], bool]
"""A predicate over events: the capture ends at the first event it accepts."""

__all__ = [
    "CaptureResult",
    "Event",
    "InputError",
    "Session",
    "TraceFileError",
    "TraceReader",
    "TraceSource",
    "Until",
    "any_of",
    "check_kernel",
    "check_program",
    "open_trace",
    "syscall",
    "violation",
]


def open_trace(path: str | os.PathLike[str]) -> TraceReader:
    """A saved trace, read with the same API as a live one. Raises `TraceFileError`."""
    return TraceReader.open(path)


def syscall(*names: str | int) -> Until:
    """Until the first entry to any of these syscalls (names as strace spells them, or numbers)."""
    from tracer.decode.strace import syscall_name

    wanted = {str(n) for n in names}

    def matches(event: Event) -> bool:
        return isinstance(event, SyscallEntry) and (
            syscall_name(event.nr) in wanted or str(event.nr) in wanted
        )

    return matches


def violation(
    kernel: str | os.PathLike[str] | None = None, rules: Iterable[str] | None = None
) -> Until:
    """Until the invariant checker's first finding (the rules of `tracer check`), fed live.

    `kernel` is the ELF the checker learns facts from (default: the built-in guest); the
    findings seen so far are in the predicate's `findings` list.
    """
    from tracer.analysis.checks import Checker, Finding
    from tracer.analysis.kernel_facts import kernel_facts

    facts, symbolize = kernel_facts(Path(kernel) if kernel else BUILTIN_KERNEL, {})
    checker = Checker(facts, symbolize)
    wanted = set(rules) if rules is not None else None
    findings: list[Finding] = []

    def matches(event: Event) -> bool:
        new = [f for f in checker.check([event]) if wanted is None or f.rule in wanted]
        findings.extend(new)
        return bool(new)

    matches.findings = findings  # type: ignore[attr-defined]
    return matches


def any_of(*predicates: Until) -> Until:
    """Until the first event any of the predicates accepts."""
    return lambda event: any(p(event) for p in predicates)


def _program(spec: ProgramSpec) -> Program:
    if isinstance(spec, Program):
        return spec
    if isinstance(spec, tuple):
        path, args = spec
        return Program(Path(path), tuple(str(a) for a in args))
    return Program(Path(spec))


@dataclass(frozen=True)
class _Done:
    """The worker's last word to `events()`: the result, or the exception that ended it."""

    result: CaptureResult | None
    error: BaseException | None


class Session:
    """One capture of a kernel (the built-in guest by default) running `programs` in order.

    Use as a context manager, or call `close()`: a capture still running is stopped, its QEMU
    and gdb ended. Without `output` the trace goes to a temporary directory, removed on close
    unless `keep=True`. `ftrace` records the kernel's function-graph ring buffer; None (the
    default) turns it on where the kernel has one. `vdso` records the programs' vDSO calls
    (clock_gettime and friends) as `VdsoCall` events. `watch=False` takes syscalls at
    breakpoints only (on one CPU they are taken by watchpoints where the kernel allows: the
    same events, faster; `tracer/probes/syscall_watch.py`).
    """

    def __init__(
        self,
        programs: Sequence[ProgramSpec] = (),
        *,
        kernel: str | os.PathLike[str] | None = None,
        boot_image: str | os.PathLike[str] | None = None,
        cmdline: str = "",
        output: str | os.PathLike[str] | None = None,
        keep: bool = False,
        mode: Mode | str = Mode.DEFAULT,
        probes: frozenset[str] = ALL_PROBES,
        read_msrs: bool = True,
        memory_mb: int = 256,
        start_timeout: float = 10.0,
        debugcon: str | os.PathLike[str] | None = None,
        ftrace: bool | None = None,
        vdso: bool = False,
        watch: bool = True,
    ) -> None:
        if kernel is None or not programs:
            ensure_guest_built(quiet=True)
        kernel = Path(kernel) if kernel is not None else BUILTIN_KERNEL
        check_kernel(kernel)
        boot_image = Path(boot_image) if boot_image else find_boot_image(kernel)
        if not boot_image.is_file():
            raise InputError(f"{boot_image}: no such boot image")
        chosen = [_program(p) for p in programs or [builtin_program("hello-glibc")]]
        for program in chosen:
            check_program(program.path)
            check_program_args(program.path, program.args)
        if unknown := set(probes) - ALL_PROBES:
            raise InputError(f"unknown probe(s): {', '.join(sorted(unknown))}")
        self._tmpdir: Path | None = None
        if output is None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="tracer-session-"))
            output = self._tmpdir / "trace.db"
        self.output = Path(output)
        self.keep = keep or self._tmpdir is None
        # What every capture of this session shares; `options()` adds the run's limits.
        self.base_options = CaptureOptions(
            kernel=kernel,
            boot_image=boot_image,
            programs=chosen,
            output=self.output,
            cmdline=cmdline,
            probes=frozenset(probes),
            mode=Mode(mode),
            read_msrs=read_msrs,
            memory_mb=memory_mb,
            debugcon=Path(debugcon) if debugcon is not None else None,
            ftrace=ftrace_by_default(ftrace, kernel),
            start_timeout=start_timeout,
            vdso=vdso,
            watch=watch,
        )
        self.result: CaptureResult | None = None
        self.qemu_pid: int | None = None
        self.gdb_pid: int | None = None
        self.private_dir: Path | None = None
        self._stop = StopRequest()
        self._worker: threading.Thread | None = None
        self._readers: list[TraceReader] = []

    # --- running ---------------------------------------------------------------------------

    def options(
        self,
        until: Until | None = None,
        *,
        until_syscall: str | None = None,
        max_events: int | None = None,
        timeout: float | None = 300.0,
        idle_timeout: float | None = 60.0,
    ) -> CaptureOptions:
        """The capture's options; `run()` and `events()` take the same keywords."""
        if max_events is not None and max_events < 1:
            raise InputError("max_events must be at least 1")
        return replace(
            self.base_options,
            until=f"syscall:{until_syscall}" if until_syscall else "exit",
            until_event=until,
            max_events=max_events,
            timeout=timeout,
            idle_timeout=idle_timeout,
        )

    def run(
        self,
        until: Until | None = None,
        *,
        progress: Callable[[CaptureStats], None] | None = None,
        **limits: Any,
    ) -> CaptureResult:
        """Capture until the guest powers off, `until` accepts an event, or a limit is hit.

        Blocks; Ctrl-C ends the capture cleanly (trace kept, processes gone), then is raised.
        """
        self._claim()
        options = self.options(until, **limits)
        try:
            self.result = capture(
                options, progress=progress, stop=self._stop, on_start=self._started
            )
        except CaptureInterrupted as exc:
            self.result = exc.result
            raise
        if self.result.reason in ("interrupted", "terminated"):
            raise KeyboardInterrupt(self.result.reason)
        return self.result

    def events(self, until: Until | None = None, **limits: Any) -> Iterator[Event]:
        """The events as they are recorded, while the capture runs in a worker thread.

        Leaving the loop early stops the capture; `result` is set once the generator ends.
        Events not consumed yet wait in memory, so iterate promptly or use `run()` instead.
        """
        self._claim()
        options = self.options(until, **limits)
        feed: queue.Queue[Event | _Done] = queue.Queue()

        def work() -> None:
            try:
                result = capture(
                    options, on_event=feed.put, stop=self._stop, on_start=self._started
                )
            except BaseException as exc:  # handed to the consumer, raised there
                feed.put(_Done(None, exc))
            else:
                feed.put(_Done(result, None))

        self._worker = threading.Thread(target=work, name="tracer-capture", daemon=True)
        self._worker.start()
        finished = False
        try:
            while True:
                item = feed.get()
                if isinstance(item, _Done):
                    finished = True
                    if item.error is not None:
                        raise item.error
                    self.result = item.result
                    return
                yield item
        except KeyboardInterrupt:
            self._stop.request("interrupted")
            raise
        finally:
            if not finished:
                self._stop.request()
            self._join()
            if self.result is None and not finished:
                self.result = _last_result(feed)

    def stop(self, reason: str = "stopped") -> None:
        """Ask a running capture to end (from any thread); the trace records `reason`."""
        self._stop.request(reason)

    def _claim(self) -> None:
        if self.result is not None or self._worker is not None:
            raise RuntimeError("a Session captures once; open a new Session for another run")

    def _started(self, target: Target) -> None:
        self.qemu_pid = target.qemu_pid
        self.gdb_pid = target.gdb_pid
        self.private_dir = target.private_dir

    def _join(self) -> None:
        if self._worker is not None:
            self._worker.join()

    # --- reading ---------------------------------------------------------------------------

    def trace(self) -> TraceReader:
        """The saved trace (after the capture), closed with the session."""
        if self.result is None:
            raise RuntimeError("the session has not captured yet: call run() or events()")
        reader = TraceReader.open(self.output)
        self._readers.append(reader)
        return reader

    # --- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        self._stop.request()
        self._join()
        for reader in self._readers:
            reader.close()
        self._readers.clear()
        if self._tmpdir is not None and (not self.keep or not _holds_anything(self._tmpdir)):
            shutil.rmtree(self._tmpdir, ignore_errors=True)  # a kept but empty one goes too

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _last_result(feed: queue.Queue[Event | _Done]) -> CaptureResult | None:
    """After the worker has ended: its result, skipping events nobody consumed."""
    while True:
        try:
            item = feed.get_nowait()
        except queue.Empty:
            return None
        if isinstance(item, _Done):
            return item.result


def _holds_anything(directory: Path) -> bool:
    try:
        return any(directory.iterdir())
    except OSError:
        return False
