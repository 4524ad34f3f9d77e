"""A capture: boot the guest, arm the probes, turn hits into events, stream them to a trace file."""

from __future__ import annotations

import contextlib
import queue
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from tracer.decode.msr import msr_name
from tracer.decode.tls import TlsVariable
from tracer.events import Event, EventKind, Gap, MsrRead, Note, SyscallEntry
from tracer.image import ElfImage, ImageError
from tracer.probes.attribution import CauseFinder
from tracer.probes.builder import EventBuilder
from tracer.probes.funcgraph import graph_functions, resolve_functions
from tracer.probes.plan import (
    ALL_PROBES,
    Mode,
    PlanError,
    ProbePlan,
    add_entry,
    add_graph_probes,
    add_ring_probe,
    build_plan,
)
from tracer.probes.ringbuf import RingLayout, control_writes, find_ring
from tracer.store import TraceWriter
from tracer.target.errors import (
    GdbDied,
    GdbError,
    QemuDied,
    TargetError,
    TargetTimeout,
    Terminated,
)
from tracer.target.gdb import ProbeHit, StopEvent
from tracer.target.msr import read_msrs
from tracer.target.qemu import Module, QemuConfig, guest_exit_status
from tracer.target.session import SessionEnd, SessionState, TargetSession, signals_deferred

MSRS_ON_DEMAND = (0xC0000080, 0xC0000081, 0xC0000082, 0xC0000084, 0xC0000101, 0xC0000102)
LSTAR = 0xC0000082
INTERRUPT_RETRY = 0.5  # seconds before a pause's interrupt is sent again
CONSOLE_KEPT = 256 * 1024  # the guest console's tail, kept in the trace's meta
GDT_SYMBOLS = ("gdt_table", "gdt_page", "gdt", "cpu_gdt_table")
EXITED = ("exited", "exited-normally", "exited-signalled")
CONTROL_TIMEOUT = 10.0  # seconds for the guest to stop after an interrupt or a step


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
    until_event: Callable[[Event], bool] | None = None  # end at the first event it accepts
    start_timeout: float = 10.0  # for QEMU's gdbstub socket to appear
    graph: tuple[str, ...] = ()  # function patterns for a breakpoint-mode function graph
    graph_large: bool = False
    ftrace: bool = False  # the guest's own function-graph ring buffer, when it has one
    ftrace_functions: tuple[str, ...] = ()  # set_graph_function patterns
    ftrace_notrace: tuple[str, ...] = ()  # set_graph_notrace patterns
    ftrace_max_depth: int = 0  # max_graph_depth; 0 is unlimited
    accel: str = "tcg"  # kvm only when asked for (and usable)
    measure_read: bool = False  # benchmark: time a bare gdb read_memory loop at the arm stop
    control: CaptureControl | None = None  # pause, resume and step from another thread

    def __post_init__(self) -> None:
        # Paths are what a caller's strings become, whatever came in.
        self.kernel, self.boot_image, self.output = (
            Path(self.kernel),
            Path(self.boot_image),
            Path(self.output),
        )

    def qemu_config(self) -> QemuConfig:
        modules = tuple(Module(p.path, p.args) for p in self.programs)
        return QemuConfig(
            boot_image=self.boot_image,
            modules=modules,
            cmdline=self.cmdline,
            memory_mb=self.memory_mb,
            icount=self.icount,
            debugcon=self.debugcon,
            accel=self.accel,
        )


class StopRequest:
    """Ask a running capture to end, from any thread; `reason` is what the trace records."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = "stopped"
        self.requested_at: float | None = None

    def request(self, reason: str = "stopped") -> None:
        if not self._event.is_set():
            self.reason = reason
            self.requested_at = time.monotonic()
            self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()


class CaptureControl:
    """Pause, resume and single-step a running capture from any thread. Requests queue up;
    the capture loop serves them between drains and records a Note for each; `paused` is
    what the loop last made of them."""

    def __init__(self) -> None:
        self._requests: queue.Queue[str] = queue.Queue()
        self.paused = False

    def pause(self) -> None:
        self._requests.put("pause")

    def resume(self) -> None:
        self._requests.put("resume")

    def step(self) -> None:
        """One instruction (pausing first if the guest is running)."""
        self._requests.put("step")

    @property
    def pending(self) -> bool:
        return not self._requests.empty()

    def take(self, timeout: float = 0.0) -> list[str]:
        """The requests made so far; waits up to `timeout` for the first one."""
        try:
            requests = [
                self._requests.get(timeout=timeout) if timeout else self._requests.get_nowait()
            ]
        except queue.Empty:
            return []
        with contextlib.suppress(queue.Empty):
            while True:
                requests.append(self._requests.get_nowait())
        return requests


@dataclass
class CaptureStats:
    events: int = 0
    syscalls: int = 0
    hits: int = 0
    records: int = 0  # lines received from the agent's pipe (hits and agent errors)
    agent_written: int | None = None  # lines the agent says it wrote (None: not known)
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def lost(self) -> int | None:
        """Agent records written but never received (None when the agent could not say)."""
        if self.agent_written is None:
            return None
        return max(0, self.agent_written - self.records)


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
    triple_fault: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def failure(self) -> str | None:
        """One line saying what went wrong (the tool or the guest), or None if nothing did."""
        tail = console_tail(self.console)
        where = f"; guest console: {tail}" if tail else ""
        if self.error:
            return f"{self.error}{where}"
        problem = ABNORMAL_ENDS.get(self.reason)
        if problem is not None:
            return f"{problem}{where}"
        if self.guest_status not in (0, None):
            return f"the guest exited with status {self.guest_status}{where}"
        return None


# Ends that are failures of the guest though the capture itself worked.
ABNORMAL_ENDS = {
    "hang": "the guest hung (no syscall or other progress within the idle timeout)",
    "timeout": "the capture timed out",
    "triple-fault": "the guest triple-faulted (CPU reset)",
}


def console_tail(console: str, lines: int = 3) -> str:
    """The last lines of the guest console, control characters dropped, joined on one line."""
    kept = []
    for line in console.splitlines():
        text = "".join(ch for ch in _strip_ansi(line) if ch.isprintable()).strip()
        if text:
            kept.append(text)
    return " | ".join(kept[-lines:])


def _strip_ansi(line: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1bc", "", line)


def tls_variables(image: ElfImage, programs: Sequence[Program]) -> dict[str, list[TlsVariable]]:
    """The named thread-local variables of the kernel and of each program, by owner."""
    out = {"kernel": _tls_of(image)}
    for program in programs:
        try:
            out[program.name] = _tls_of(ElfImage.open(program.path, require_symbols=False))
        except ImageError:
            out[program.name] = []
    return out


def _tls_of(image: ElfImage) -> list[TlsVariable]:
    return [TlsVariable(t.name, t.tp_offset, t.size) for t in image.tls_symbols()]


def cause_finder(image: ElfImage, plan: ProbePlan) -> CauseFinder:
    stubs = [
        (stub.path, stub.vector is not None and stub.vector < 32)
        for stub in plan.interrupt_stubs.values()
    ]
    return CauseFinder.build(image, plan.entry, stubs)


LIMITS = ("until", "max-events")  # ends the caller asked for: nothing after them is recorded

# Events the timer alone produces: a guest spinning in user space still takes interrupts (and
# their swapgs, context switches, TLS snapshots), so these do not count as progress for `hang`.
CLOCK_DRIVEN = frozenset(
    {EventKind.INTERRUPT, EventKind.CONTEXT_SWITCH, EventKind.SEGBASE, EventKind.TLS_SNAPSHOT}
)


class _Capture:
    """The loop: hits in, events out, stop conditions and special stops handled."""

    def __init__(
        self,
        options: CaptureOptions,
        image: ElfImage,
        plan: ProbePlan,
        writer: TraceWriter,
        on_event: Callable[[Event], None] | None,
        progress: Callable[[CaptureStats], None] | None,
        stop: StopRequest | None = None,
    ) -> None:
        self.options = options
        self.image = image
        self.plan = plan
        self.writer = writer
        self.on_event = on_event
        self.progress = progress
        self.stop = stop
        self.stats = CaptureStats()
        variables: dict[str, Sequence[TlsVariable]] = dict(tls_variables(image, options.programs))
        self.builder = EventBuilder(
            plan,
            [p.name for p in options.programs],
            time.monotonic_ns(),
            symbolize=image.symbolize,
            tls_variables=variables,
            causes=cause_finder(image, plan),
        )
        self.msr_values: dict[int, int] = {}
        self.done_reason: str | None = None
        self.last_activity = time.monotonic()
        self.want_msrs = options.read_msrs
        self.want_ring = options.ftrace and plan.ring is not None
        self.error: str | None = None
        self.qemu_exit: int | None = None  # QEMU's status when it ended by itself
        self.control = options.control
        self.paused_at: float | None = None  # when the user paused the guest
        self.paused_s = 0.0  # time spent paused, which no timeout counts

    def record(self, event: Event) -> None:
        self.writer.append(event)
        self.stats.events += 1
        if event.kind not in CLOCK_DRIVEN:
            self.last_activity = time.monotonic()
        if isinstance(event, SyscallEntry):
            self.stats.syscalls += 1
            if self.options.until.startswith("syscall:") and self._matches_until(event):
                self.done_reason = f"until {self.options.until}"
        if self.on_event is not None:
            self.on_event(event)
        if self.options.until_event is not None and self.done_reason is None:
            if self.options.until_event(event):
                self.done_reason = "until"
        if self.options.max_events is not None and self.stats.events >= self.options.max_events:
            self.done_reason = self.done_reason or "max-events"

    def _matches_until(self, event: SyscallEntry) -> bool:
        from tracer.decode.strace import syscall_name

        want = self.options.until.split(":", 1)[1]
        return want in (syscall_name(event.nr), str(event.nr))

    def note(self, text: str, level: str = "info") -> None:
        self.record_external(Note(self.builder._seq(), self._now(), text, level))  # type: ignore[arg-type]

    def _now(self) -> int:
        return time.monotonic_ns() - self.builder.t0

    def record_external(self, event: Event) -> None:
        """An event made here, not by the builder: after whatever the builder still holds."""
        for held in self.builder.flush_held():
            self.record(held)
        self.record(event)

    def take(self, item: ProbeHit | dict[str, Any]) -> None:
        # Activity is an event recorded, not a hit: a program spinning in user space still
        # takes timer interrupts, and their returns to user are hits that record nothing.
        self.stats.records += 1
        if self.done_reason in LIMITS or (self.done_reason or "").startswith("until"):
            return  # the capture ended at the hit that met its limit; later ones are not in it
        if isinstance(item, ProbeHit):
            self.stats.hits += 1
            for event in self.builder.feed(item):
                self.record(event)
        else:
            self.record_external(self.builder.agent_error(item, time.monotonic_ns()))

    def drain(self, session: TargetSession, timeout: float, *, everything: bool = False) -> bool:
        """Take what the agent sent; False once its pipe has closed."""
        for item in session.drain_hits(timeout):
            if item is None:
                return False
            self.take(item)
            if not everything and self.control is not None and self.control.pending:
                break  # serve a pause now, not after a long backlog
        return True

    def handle_stop(self, session: TargetSession, stop: StopEvent) -> bool:
        """A real stop: the LSTAR write, the MSR snapshot, or the end. True to keep going."""
        if stop.reason in EXITED:
            self.guest_ended(session)
            return False
        if stop.reason != "breakpoint-hit" and stop.reason != "stopped":
            if session.qemu.returncode is not None:
                self.guest_ended(session)
                return False
            if self.control is not None and stop.detail == "SIGINT":
                session.resume()  # a pause's interrupt that arrived late: not the agent's stop
                return True
        session.gdb.flush_agent()
        self.drain(session, 0.2)
        if self.plan.wants_lstar_stop and stop.pc is not None:
            self._arm_entry_from_lstar(session)
        elif self.want_msrs or self.want_ring:
            if self.want_msrs:
                self.want_msrs = False
                self._snapshot_msrs(session, stop.pc)
            if self.want_ring:
                self.want_ring = False
                self._arm_ring(session)
            if stop.pc is not None:
                session.gdb.python(f"tracer_agent.skip_next({stop.pc})")
        session.resume()
        return True

    def _measure_read(self, session: TargetSession, ring: RingLayout) -> None:
        """A bare gdb read_memory loop over the ring's entries, for the drain benchmark."""
        offset, size = ring.ring_fields["entries"]
        entries = int.from_bytes(session.gdb.read_memory(ring.rings + offset, size), "little")
        text = session.gdb.python(f"tracer_agent.bench_read({entries}, 65536, 16)", timeout=60)
        for word in text.split():
            key, _, value = word.partition("=")
            if key in ("bytes", "ns") and value.isdigit():
                self.writer.set_meta(f"bare_read_{key}", value)

    def _arm_ring(self, session: TargetSession) -> None:
        """Turn the guest's function-graph ring on, with its filters (first syscall stop)."""
        ring = self.plan.ring
        assert ring is not None
        options = self.options
        try:
            graph = resolve_functions(self.image, options.ftrace_functions)
            notrace = resolve_functions(self.image, options.ftrace_notrace)
            for addr, data in control_writes(ring, graph, notrace, options.ftrace_max_depth):
                session.gdb.write_memory(addr, data)
            if ring.tsc_khz is not None:
                khz = int.from_bytes(session.gdb.read_memory(ring.tsc_khz, 8), "little")
                self.builder.tsc_khz = khz or None
                self.writer.set_meta("guest_tsc_khz", str(khz))
            session.gdb.python("tracer_agent.set_ring_armed(True)")
            if options.measure_read:
                self._measure_read(session, ring)
        except (TargetError, ValueError) as exc:
            self.note(f"function-graph ring not armed: {exc}", "warning")
            return
        self.note(
            f"function-graph ring armed ({len(graph)} graph roots, "
            f"{len(notrace)} notrace, max depth {options.ftrace_max_depth or 'unlimited'})"
        )

    def guest_ended(self, session: TargetSession) -> None:
        """QEMU is gone (or gdb says so): a power-off, a triple fault, or QEMU killed."""
        code = session.qemu.wait(timeout=2.0)
        if code is None:
            raise GdbDied("gdb lost its connection to QEMU, which is still running")
        if code < 0:
            raise QemuDied(f"QEMU was killed by {_signal_name(-code)}")
        self.qemu_exit = code
        if self.done_reason is not None:  # the limit was met first, in the hits just drained
            return
        if session.qemu.triple_faulted():
            self.done_reason = "triple-fault"
        else:
            self.done_reason = "guest-exit"

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
        self.msr_values.update(values)
        for msr, value in values.items():
            self.record_external(
                MsrRead(self.builder._seq(), self._now(), 0, 0, msr, value, pc or 0)
            )
        self._read_gdt(session)

    def _read_gdt(self, session: TargetSession) -> None:
        """The GDT, for checking STAR's selectors against it (found by its symbol)."""
        for name in GDT_SYMBOLS:
            symbol = self.image.symbol(name)
            if symbol is None or not symbol.size:
                continue
            try:
                data = session.gdb.read_memory(symbol.addr, min(symbol.size, 256))
            except TargetError:
                continue
            self.writer.set_meta("gdt", data.hex())
            self.writer.set_meta("gdt_symbol", name)
            return

    # Pause, resume and step (CaptureControl): stops the tracer causes, kept apart from the
    # agent's stops and from the guest's end.

    def serve_control(self, session: TargetSession) -> None:
        assert self.control is not None
        wait = 0.05 if self.paused_at is not None else 0.0
        for request in self.control.take(wait):
            if self.done_reason is not None:
                return
            if request in ("pause", "step") and self.paused_at is None:
                self._pause(session)
            if request == "step" and self.paused_at is not None:
                self._step(session)
            elif request == "resume" and self.paused_at is not None:
                self._resume(session)

    def _pause(self, session: TargetSession) -> None:
        while True:
            stop = self._interrupt(session)
            if stop.reason in EXITED or session.qemu.returncode is not None:
                self.guest_ended(session)
                return
            if stop.detail == "SIGINT" or stop.reason == "signal-received":
                break
            if not self.handle_stop(session, stop):  # the agent's own stop came first
                return
        session.state = SessionState.STOPPED
        self._drain_all(session)
        self.paused_at = time.monotonic()
        assert self.control is not None
        self.control.paused = True
        self.note(f"paused at {self._where(session)}")

    def _interrupt(self, session: TargetSession) -> StopEvent:
        """Interrupt the guest and wait for the stop. gdb drops an interrupt that lands while
        it is inside a breakpoint's stop() and resumes, so one that brings no stop is sent
        again."""
        deadline = time.monotonic() + CONTROL_TIMEOUT
        while True:
            with contextlib.suppress(GdbError):  # already stopped by the agent: nothing to do
                session.gdb.interrupt()
            try:
                return session.gdb.wait_stopped(INTERRUPT_RETRY)
            except TargetTimeout:
                if time.monotonic() > deadline or session.qemu.returncode is not None:
                    return session.gdb.wait_stopped(INTERRUPT_RETRY)

    def _step(self, session: TargetSession) -> None:
        stop = session.gdb.step_instruction(CONTROL_TIMEOUT)
        if stop.reason in EXITED or session.qemu.returncode is not None:
            self.guest_ended(session)
            return
        self._drain_all(session)
        self.note(f"step: rip {self._where(session)}")

    def _resume(self, session: TargetSession) -> None:
        assert self.paused_at is not None and self.control is not None
        self.paused_s += time.monotonic() - self.paused_at
        self.paused_at = None
        self.control.paused = False
        self.note("resumed")
        self.last_activity = time.monotonic()
        session.resume()

    def _drain_all(self, session: TargetSession, timeout: float = 5.0) -> None:
        """Every hit the agent has written, so a Note made now follows them in the trace."""
        text = session.gdb.python("tracer_agent.flush()")
        found = re.search(r"agent flushed (\d+)", text)
        written = int(found.group(1)) if found else None
        deadline = time.monotonic() + timeout
        while self.drain(session, 0.05, everything=True):
            if written is None or self.stats.records >= written or time.monotonic() > deadline:
                return

    def _where(self, session: TargetSession) -> str:
        rip = session.gdb.read_register("rip")
        symbol = self.image.symbolize(rip)
        return f"{rip:#x}" + (f" <{symbol}>" if symbol else "")

    def run(self, session: TargetSession) -> None:
        deadline = None if self.options.timeout is None else time.monotonic() + self.options.timeout
        session.resume()
        last_progress = 0.0
        self.last_activity = time.monotonic()
        while self.done_reason is None:
            if self.stop is not None and self.stop.requested:
                self.done_reason = self.stop.reason
                break
            if self.control is not None:
                self.serve_control(session)
                if self.done_reason is not None:
                    break
                if self.paused_at is not None:
                    if session.qemu.returncode is not None:
                        self.guest_ended(session)
                        break
                    if not session.gdb.mi.alive:
                        raise GdbDied(f"{session.gdb.mi.describe_exit()} while paused")
                    continue  # nothing runs, so nothing times out
            alive = self.drain(session, 0.05)
            stop = session.poll_stop()
            if stop is not None and not self.handle_stop(session, stop):
                break
            if session.qemu.returncode is not None:
                self.drain(session, 0.1)
                self.guest_ended(session)
                break
            if not alive or not session.gdb.mi.alive:
                raise GdbDied(f"{session.gdb.mi.describe_exit()} during the capture")
            now = time.monotonic()
            if deadline is not None and now - self.paused_s > deadline:
                self.done_reason = "timeout"
            elif self.options.idle_timeout and now - self.last_activity > self.options.idle_timeout:
                self.done_reason = "hang"
            if self.progress is not None and now - last_progress > 0.25:
                last_progress = now
                self.progress(self.stats)

    def finish(self, session: TargetSession) -> SessionEnd:
        """End gdb and QEMU (once), then record every hit still queued."""
        end = session.finish()
        for item in session.drain_hits(0.0):
            if item is not None:
                self.take(item)
        while not session.hits.empty():
            item = session.hits.get_nowait()
            if item is not None:
                self.take(item)
        for event in self.builder.flush_held():
            self.record(event)
        self.stats.agent_written = end.agent_written
        for key in ("handled", "handler_ns", "drain_ns", "drain_bytes", "duplicates"):
            if key in session.agent_stats:
                self.writer.set_meta(f"agent_{key}", str(session.agent_stats[key]))
        return end

    def fail(self, error: str, reason: str) -> None:
        self.error = self.error or error
        self.done_reason = reason

    def conclude(self, end: SessionEnd | None) -> None:
        """The last event says why the capture ended: a Gap when cut short, else a Note."""
        reason = self.done_reason or "unknown"
        console = console_tail(end.console) if end is not None else ""
        with contextlib.suppress(Exception):
            if self.error:
                self.record_external(
                    Gap(self.builder._seq(), self._now(), f"capture ended: {self.error}")
                )
            elif reason in ABNORMAL_ENDS or (
                reason == "guest-exit" and self._status() not in (0, None)
            ):
                what = ABNORMAL_ENDS.get(reason) or f"guest exited with status {self._status()}"
                tail = f"; guest console: {console}" if console else ""
                self.note(f"capture ended: {what}{tail}", "warning")
            else:
                self.note(f"capture ended: {reason}")

    def _status(self) -> int | None:
        return guest_exit_status(self.qemu_exit)


STUCK_AFTER = 5.0  # seconds a stop request may wait before another signal raises instead


@contextlib.contextmanager
def signals_stop(stop: StopRequest) -> Iterator[None]:
    """While the loop runs, Ctrl-C and SIGTERM ask it to stop between two events, so none is
    left half built; only if it has not stopped STUCK_AFTER seconds later does one raise."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        reason = "terminated" if signum == signal.SIGTERM else "interrupted"
        if stop.requested and time.monotonic() - (stop.requested_at or 0.0) > STUCK_AFTER:
            raise Terminated(reason) if signum == signal.SIGTERM else KeyboardInterrupt(reason)
        stop.request(reason)

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _root_cause(session: TargetSession | None, exc: TargetError) -> str:
    """What to blame: a command failed because QEMU or gdb was killed under it, say so."""
    message = str(exc) or type(exc).__name__
    if session is None or isinstance(exc, QemuDied | GdbDied):
        return message
    code = session.qemu.returncode
    if code is not None and code < 0 and not session.qemu.ended_by_close:
        return f"QEMU was killed by {_signal_name(-code)} ({message})"
    return message


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def capture(
    options: CaptureOptions,
    on_event: Callable[[Event], None] | None = None,
    progress: Callable[[CaptureStats], None] | None = None,
    *,
    stop: StopRequest | None = None,
    on_start: Callable[[TargetSession], None] | None = None,
) -> CaptureResult:
    """Run one capture to its end; the trace file holds every event seen, whatever happens.

    Tool failures (gdb or QEMU dying, Ctrl-C, SIGTERM) end in `result.error` and a Gap as the
    last event; `stop` ends it early from another thread; `on_start` sees the live session
    (QEMU and gdb pids, the private directory) once both processes are up.
    """
    image = ElfImage.open(options.kernel)
    programs = tuple(ElfImage.open(p.path, require_symbols=False) for p in options.programs)
    plan = build_plan(image, options.mode, options.probes, programs=programs)
    if options.ftrace:
        ring = find_ring(image)
        if ring is None:
            raise PlanError(
                f"{options.kernel}: no function-graph ring buffer (ftrace_rings, "
                "struct ftrace_ring in DWARF); use --graph FUNCS for breakpoints"
            )
        add_ring_probe(plan, ring)
    if options.graph:
        notrace = (
            graph_functions(image, list(options.ftrace_notrace), True)
            if options.ftrace_notrace and not options.ftrace
            else []
        )
        add_graph_probes(
            plan, graph_functions(image, list(options.graph), options.graph_large), notrace
        )
        plan.notes.append(
            "function graph by breakpoints: durations are not guest time "
            "(the tracer cannot read the guest's clock at a stop)"
        )
    meta = {
        "kernel": str(options.kernel.resolve()),
        "programs": " ".join(str(p.path) for p in options.programs),
        "cmdline": options.cmdline,
        "mode": options.mode.value,
        **options.meta,
    }
    with TraceWriter(options.output, meta=meta, overwrite=options.overwrite) as writer:
        stop = stop or StopRequest()
        run = _Capture(options, image, plan, writer, on_event, progress, stop)
        for text in plan.notes:
            run.note(text)
        session: TargetSession | None = None
        end: SessionEnd | None = None
        try:
            session = TargetSession(
                options.kernel,
                options.qemu_config(),
                tuple(p.path for p in options.programs),
                start_timeout=options.start_timeout,
            )
            with session:
                if on_start is not None:
                    on_start(session)
                session.load_agent(
                    plan.agent_plan(stop_first_syscall=options.read_msrs or options.ftrace)
                )
                with signals_stop(stop):
                    run.run(session)
                if run.done_reason in ("interrupted", "terminated"):
                    run.fail(run.done_reason, run.done_reason)
                end = run.finish(session)
        except TargetError as exc:
            run.fail(_root_cause(session, exc), "error")
        except Terminated:
            run.fail("terminated", "terminated")
        except KeyboardInterrupt:
            run.fail("interrupted", "interrupted")
        except Exception as exc:  # a bug: the trace says so before the caller reports it
            run.fail(f"internal error: {type(exc).__name__}: {exc}", "error")
            raise
        finally:
            with signals_deferred():
                if session is not None:
                    with contextlib.suppress(Exception):
                        end = run.finish(session)
                run.stats.ended = time.monotonic()
                run.conclude(end)
                writer.set_meta("end_reason", run.done_reason or "unknown")
                for msr, value in run.msr_values.items():
                    writer.set_meta(f"msr.{msr_name(msr)}", hex(value))
                if run.stats.agent_written is not None:
                    writer.set_meta("agent_records", str(run.stats.agent_written))
                    writer.set_meta("records_received", str(run.stats.records))
        returncode = end.qemu_returncode if end is not None else None
        if returncode is not None:
            writer.set_meta("qemu_returncode", str(returncode))
        if end is not None and end.console:
            writer.set_meta("console", end.console[-CONSOLE_KEPT:])
        status = guest_exit_status(run.qemu_exit)
        if status is not None:
            writer.set_meta("guest_status", str(status))
    return CaptureResult(
        output=options.output,
        reason=run.done_reason or "unknown",
        stats=run.stats,
        qemu_returncode=returncode,
        guest_status=status,
        console=end.console if end is not None else "",
        msr_values=run.msr_values,
        plan=plan,
        error=run.error,
        triple_fault=run.done_reason == "triple-fault",
    )
