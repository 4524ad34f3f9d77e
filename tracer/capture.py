"""A capture: boot the guest, arm the probes, turn hits into events, stream them to a trace file."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracer.decode.msr import msr_name
from tracer.events import Event, Gap, MsrRead, Note, SyscallEntry
from tracer.image import ElfImage
from tracer.probes.builder import EventBuilder
from tracer.probes.plan import ALL_PROBES, Mode, ProbePlan, add_entry, build_plan
from tracer.store import TraceWriter
from tracer.target.errors import GdbDied, TargetError
from tracer.target.gdb import ProbeHit, StopEvent
from tracer.target.msr import read_msrs
from tracer.target.qemu import Module, QemuConfig, guest_exit_status
from tracer.target.session import TargetSession

MSRS_ON_DEMAND = (0xC0000080, 0xC0000081, 0xC0000082, 0xC0000084, 0xC0000101, 0xC0000102)
LSTAR = 0xC0000082


@dataclass(frozen=True)
class Program:
    path: Path
    args: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class CaptureOptions:
    kernel: Path
    boot_image: Path
    programs: Sequence[Program]
    output: Path
    cmdline: str = ""
    probes: frozenset[str] = ALL_PROBES
    mode: Mode = Mode.DEFAULT
    until: str = "exit"
    max_events: int | None = None
    timeout: float | None = 300.0
    idle_timeout: float | None = 60.0
    icount: str | None = None
    read_msrs: bool = True
    memory_mb: int = 256
    overwrite: bool = True
    debugcon: Path | None = None
    meta: dict[str, str] = field(default_factory=dict)

    def qemu_config(self) -> QemuConfig:
        modules = tuple(Module(p.path, p.args) for p in self.programs)
        return QemuConfig(
            boot_image=self.boot_image, modules=modules, cmdline=self.cmdline,
            memory_mb=self.memory_mb, icount=self.icount, debugcon=self.debugcon,
        )


@dataclass
class CaptureStats:
    events: int = 0
    syscalls: int = 0
    hits: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


@dataclass
class CaptureResult:
    output: Path
    reason: str
    stats: CaptureStats
    qemu_returncode: int | None
    guest_status: int | None
    console: str
    msr_values: dict[int, int]
    plan: ProbePlan
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _Capture:
    """The loop: hits in, events out, stop conditions and special stops handled."""

    def __init__(self, options: CaptureOptions, image: ElfImage, plan: ProbePlan,
                 writer: TraceWriter, on_event: Callable[[Event], None] | None,
                 progress: Callable[[CaptureStats], None] | None) -> None:
        self.options = options
        self.image = image
        self.plan = plan
        self.writer = writer
        self.on_event = on_event
        self.progress = progress
        self.stats = CaptureStats()
        self.builder = EventBuilder(plan, [p.name for p in options.programs], time.monotonic_ns())
        self.msr_values: dict[int, int] = {}
        self.done_reason: str | None = None
        self.last_activity = time.monotonic()
        self.want_msrs = options.read_msrs

    def record(self, event: Event) -> None:
        self.writer.append(event)
        self.stats.events += 1
        if isinstance(event, SyscallEntry):
            self.stats.syscalls += 1
            if self.options.until.startswith("syscall:") and self._matches_until(event):
                self.done_reason = f"until {self.options.until}"
        if self.on_event is not None:
            self.on_event(event)
        if self.options.max_events is not None and self.stats.events >= self.options.max_events:
            self.done_reason = "max-events"

    def _matches_until(self, event: SyscallEntry) -> bool:
        from tracer.decode.strace import syscall_name

        want = self.options.until.split(":", 1)[1]
        return want in (syscall_name(event.nr), str(event.nr))

    def note(self, text: str, level: str = "info") -> None:
        self.record(Note(self.builder._seq(), self._now(), text, level))  # type: ignore[arg-type]

    def _now(self) -> int:
        return time.monotonic_ns() - self.builder.t0

    def take(self, item: ProbeHit | dict[str, Any]) -> None:
        self.last_activity = time.monotonic()
        if isinstance(item, ProbeHit):
            self.stats.hits += 1
            for event in self.builder.feed(item):
                self.record(event)
        else:
            self.record(self.builder.agent_error(item, time.monotonic_ns()))

    def drain(self, session: TargetSession, timeout: float) -> bool:
        """Take what the agent sent; False once its pipe has closed."""
        for item in session.drain_hits(timeout):
            if item is None:
                return False
            self.take(item)
        return True

    def handle_stop(self, session: TargetSession, stop: StopEvent) -> bool:
        """A real stop: the LSTAR write, the MSR snapshot, or the end. True to keep going."""
        if stop.reason in ("exited", "exited-normally", "exited-signalled"):
            self.done_reason = "guest-exit"
            return False
        if stop.reason != "breakpoint-hit" and stop.reason != "stopped":
            if session.qemu.returncode is not None:
                self.done_reason = "guest-exit"
                return False
        session.gdb.flush_agent()
        self.drain(session, 0.2)
        if self.plan.wants_lstar_stop and stop.pc is not None:
            self._arm_entry_from_lstar(session)
        elif self.want_msrs:
            self.want_msrs = False
            self._snapshot_msrs(session, stop.pc)
        session.resume()
        return True

    def _arm_entry_from_lstar(self, session: TargetSession) -> None:
        lstar = self.builder.msr_values.get(LSTAR)
        if lstar is None:
            return
        added = add_entry(self.plan, self.image, lstar)
        session.gdb.arm([p.to_json() for p in added], session.scratch)
        session.gdb.python("tracer_agent.set_stop_on_lstar(False)")
        if self.want_msrs:
            session.gdb.python("tracer_agent.set_stop_first_syscall(True)")
        self.note(f"syscall entry found from LSTAR: {self.image.symbolize(lstar) or hex(lstar)}")

    def _snapshot_msrs(self, session: TargetSession, pc: int | None) -> None:
        try:
            values = read_msrs(session.gdb, MSRS_ON_DEMAND)
        except TargetError as exc:
            self.note(f"on-demand MSR read failed: {exc}", "warning")
            return
        finally:
            if pc is not None:
                session.gdb.python(f"tracer_agent.skip_next({pc})")
        self.msr_values.update(values)
        for msr, value in values.items():
            self.record(MsrRead(self.builder._seq(), self._now(), 0, 0, msr, value, pc or 0))

    def run(self, session: TargetSession) -> None:
        deadline = None if self.options.timeout is None else time.monotonic() + self.options.timeout
        session.resume()
        last_progress = 0.0
        while self.done_reason is None:
            alive = self.drain(session, 0.05)
            stop = session.poll_stop()
            if stop is not None and not self.handle_stop(session, stop):
                break
            if session.qemu.returncode is not None:
                self.done_reason = "guest-exit"
                break
            if not alive or not session.gdb.mi.alive:
                raise GdbDied("gdb exited during the capture")
            now = time.monotonic()
            if deadline is not None and now > deadline:
                self.done_reason = "timeout"
            elif self.options.idle_timeout and now - self.last_activity > self.options.idle_timeout:
                self.done_reason = "hang"
            if self.progress is not None and now - last_progress > 0.25:
                last_progress = now
                self.progress(self.stats)

    def finish(self, session: TargetSession) -> tuple[int | None, str]:
        end = session.finish()
        for item in session.drain_hits(0.0):
            if item is not None:
                self.take(item)
        while not session.hits.empty():
            item = session.hits.get_nowait()
            if item is not None:
                self.take(item)
        return end.qemu_returncode, end.console


def capture(
    options: CaptureOptions,
    on_event: Callable[[Event], None] | None = None,
    progress: Callable[[CaptureStats], None] | None = None,
) -> CaptureResult:
    """Run one capture to its end; the trace file holds every event seen, whatever happens."""
    image = ElfImage.open(options.kernel)
    plan = build_plan(image, options.mode, options.probes)
    meta = {
        "kernel": str(options.kernel),
        "programs": " ".join(str(p.path) for p in options.programs),
        "cmdline": options.cmdline,
        "mode": options.mode.value,
        **options.meta,
    }
    with TraceWriter(options.output, meta=meta, overwrite=options.overwrite) as writer:
        run = _Capture(options, image, plan, writer, on_event, progress)
        for text in plan.notes:
            run.note(text)
        error: str | None = None
        session = TargetSession(
            options.kernel, options.qemu_config(), tuple(p.path for p in options.programs)
        )
        returncode, console = None, ""
        try:
            with session:
                session.load_agent(plan.agent_plan(stop_first_syscall=options.read_msrs))
                try:
                    run.run(session)
                except (TargetError, KeyboardInterrupt) as exc:
                    run.done_reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
                    error = str(exc) or type(exc).__name__
                    if isinstance(exc, KeyboardInterrupt):
                        error = "interrupted"
                returncode, console = run.finish(session)
        except TargetError as exc:
            error = str(exc)
            run.done_reason = run.done_reason or "error"
        finally:
            if error:
                with contextlib.suppress(Exception):
                    run.record(Gap(run.builder._seq(), run._now(), f"capture ended: {error}"))
            writer.set_meta("end_reason", run.done_reason or "unknown")
            for msr, value in run.msr_values.items():
                writer.set_meta(f"msr.{msr_name(msr)}", hex(value))
        if returncode is not None:
            writer.set_meta("qemu_returncode", str(returncode))
        status = guest_exit_status(returncode)
        if status is not None:
            writer.set_meta("guest_status", str(status))
    return CaptureResult(
        output=options.output, reason=run.done_reason or "unknown", stats=run.stats,
        qemu_returncode=returncode, guest_status=status, console=console,
        msr_values=run.msr_values, plan=plan, error=error,
    )
