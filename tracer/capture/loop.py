"""The capture loop, written against the Target Protocol: records in, events out, stop
conditions and special stops answered. `FakeTarget` drives it in the unit tests."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence

from tracer.capture.arming import Arming
from tracer.capture.control import CaptureControl, StopRequest
from tracer.capture.holding import CLOCK_DRIVEN_RECORDS, RELEASING, hold_limit
from tracer.capture.options import ABNORMAL_ENDS, CaptureOptions, CaptureStats, console_tail
from tracer.capture.pausing import Pausing
from tracer.capture.priority import tracer_yields_cpu
from tracer.decode.strace import syscall_name
from tracer.decode.tls import TlsVariable
from tracer.events import Event, EventKind, Gap, Note, ProcessEvent, SyscallEntry
from tracer.image import ElfImage, ImageError
from tracer.probes.attribution import CauseFinder
from tracer.probes.builder import EventBuilder
from tracer.probes.plan import ProbePlan
from tracer.store import TraceWriter
from tracer.target.errors import GdbDied, QemuDied, TargetError
from tracer.target.protocol import SessionEnd, Target
from tracer.target.qemu import guest_exit_status
from tracer.target.records import AgentError, AgentRecord, ProbeHit, StopEvent
from tracer.target.session import redeliver, signals_deferred

LIMITS = ("until", "max-events")  # ends the caller asked for: nothing after them is recorded
# A drain returns to the loop after this long even while records keep coming (a guest that
# out-runs the tracer), so a stop, a pause, the timeouts and progress are still seen.
DRAIN_SLICE_S = 0.25
# Taking every record the agent has written (at a pause, a step, a real stop) gives up only
# after this long without one arriving.
DRAIN_ALL_IDLE_S = 5.0

# Events the timer alone produces: a guest spinning in user space still takes interrupts (and
# their swapgs, context switches, TLS snapshots), so these do not count as progress for `hang`.
CLOCK_DRIVEN = frozenset(
    {
        EventKind.INTERRUPT,
        EventKind.CONTEXT_SWITCH,
        EventKind.SEGBASE,
        EventKind.TLS_SNAPSHOT,
        EventKind.FUNC_ENTRY,  # the timer's handlers, in the function graph
        EventKind.FUNC_EXIT,
    }
)
AGENT_STAT_KEYS = (
    "handled",
    "handler_ns",
    "stop_ns",
    "drain_ns",
    "drain_bytes",
    "drains",
    "duplicates",
    "quiet_hits",
    "lifted",
    "watchpoints",
    "watch_stops",
    "watching",
)


def tls_variables(image: ElfImage, programs: Sequence[ElfImage | None], names: Sequence[str]):
    """The named thread-local variables of the kernel and of each program, by owner."""
    out: dict[str, Sequence[TlsVariable]] = {"kernel": _tls_of(image)}
    for name, program in zip(names, programs, strict=True):
        out[name] = _tls_of(program) if program is not None else []
    return out


def _tls_of(image: ElfImage) -> list[TlsVariable]:
    return [
        TlsVariable(t.name, t.tp_offset, t.size)
        for t in image.tls_symbols()
        if t.tp_offset is not None
    ]


def cause_finder(image: ElfImage, plan: ProbePlan) -> CauseFinder:
    stubs = [
        (stub.path, stub.vector is not None and stub.vector < 32)
        for stub in plan.interrupt_stubs.values()
    ]
    return CauseFinder.build(image, plan.entry, stubs)


def open_programs(options: CaptureOptions) -> list[ElfImage | None]:
    out: list[ElfImage | None] = []
    for program in options.programs:
        try:
            out.append(ElfImage.open(program.path, require_symbols=False))
        except ImageError:
            out.append(None)
    return out


class CaptureLoop:
    """One capture's state: the builder, the stop conditions, what the guest did."""

    def __init__(
        self,
        options: CaptureOptions,
        image: ElfImage,
        plan: ProbePlan,
        writer: TraceWriter,
        on_event: Callable[[Event], None] | None = None,
        progress: Callable[[CaptureStats], None] | None = None,
        stop: StopRequest | None = None,
        first_processes: Sequence[str] = (),
    ) -> None:
        self.options = options
        self.image = image
        self.plan = plan
        self.writer = writer
        self.on_event = on_event
        self.progress = progress
        self.stop = stop or StopRequest()
        self.stats = CaptureStats()
        names = [p.name for p in options.programs]
        self.builder = EventBuilder(
            plan,
            [*first_processes, *names],  # a Linux /init runs before the programs
            time.monotonic_ns(),
            symbolize=image.symbolize,
            tls_variables=dict(tls_variables(image, open_programs(options), names)),
            causes=cause_finder(image, plan),
        )
        self.done_reason: str | None = None
        self.error: str | None = None
        self.qemu_exit: int | None = None  # QEMU's status when it ended by itself
        self.last_activity = time.monotonic()
        self.started: list[tuple[int, str]] = []  # (pid, name) of processes seen to start
        self.exit_statuses: dict[int, int] = {}
        self.arming = Arming(self)
        self.control: CaptureControl | None = options.control
        self.pausing = Pausing(self, self.control) if self.control is not None else None
        self.hold_limit = hold_limit(options, on_event)
        self.held: list[AgentRecord] = []

    # Events ---------------------------------------------------------------------------------

    def record(self, event: Event) -> None:
        self.writer.append(event)
        self.stats.events += 1
        # A Linux boot traced from its start makes no syscall until /init: its context
        # switches are its progress then.
        if event.kind not in CLOCK_DRIVEN or (self.options.from_boot and not self.started):
            self.last_activity = time.monotonic()
        if isinstance(event, SyscallEntry):
            self.stats.syscalls += 1
            if self.options.until.startswith("syscall:") and self._matches_until(event):
                self.done_reason = f"until {self.options.until}"
        elif isinstance(event, ProcessEvent):
            self._saw_process(event)
        if self.on_event is not None:
            self.on_event(event)
        if self.options.until_event is not None and self.done_reason is None:
            if self.options.until_event(event):
                self.done_reason = "until"
        if self.options.max_events is not None and self.stats.events >= self.options.max_events:
            self.done_reason = self.done_reason or "max-events"

    def _saw_process(self, event: ProcessEvent) -> None:
        if event.action == "start":
            self.stats.mark("first_user", (self.builder.t0 + event.time_ns) / 1e9)
            self.started.append((event.pid, event.name))
        elif event.status is not None:
            self.exit_statuses[event.pid] = event.status

    def _matches_until(self, event: SyscallEntry) -> bool:
        want = self.options.until.split(":", 1)[1]
        return want in (syscall_name(event.nr), str(event.nr))

    def now(self) -> int:
        return time.monotonic_ns() - self.builder.t0

    def note(self, text: str, level: str = "info") -> None:
        self.record_external(Note(self.builder._seq(), self.now(), text, level))  # type: ignore[arg-type]

    def record_external(self, event: Event) -> None:
        """An event made here, not by the builder: after whatever the builder still holds."""
        self.release()
        for held in self.builder.flush_held():
            self.record(held)
        # The owners learn from it too: GS_BASE read at a Linux capture's first stop names the
        # per-CPU area the boot wrote before any probe was armed.
        self.builder.owners.learn(event)
        self.record(event)

    def take(self, item: AgentRecord) -> None:
        # Activity is an event recorded (a record of a kind that is not clock-driven, while
        # records are held), not a hit: a program spinning in user space still takes timer
        # interrupts, and their returns to user are hits that record nothing.
        self.stats.records += 1
        if self.limit_met:
            return  # the capture ended at the hit that met its limit; later ones are not in it
        if isinstance(item, ProbeHit):
            self.stats.hits += 1
        if not self.hold_limit:
            self._build(item)
            return
        self.held.append(item)
        self.stats.held = len(self.held)
        if not isinstance(item, ProbeHit) or item.probe not in CLOCK_DRIVEN_RECORDS:
            self.last_activity = time.monotonic()
        if len(self.held) >= self.hold_limit or (
            isinstance(item, ProbeHit) and item.probe in RELEASING
        ):
            self.release(until_stop=True)

    def release(self, *, until_stop: bool = False) -> None:
        """Build the events of the records held so far, in order; with `until_stop`, only until
        a stop is asked (the rest wait for the end). Ctrl-C and SIGTERM wait meanwhile, and are
        heard between two records: a record's events are never recorded in part."""
        if not self.held:
            return
        with signals_deferred() as arrived:
            while self.held:
                batch, self.held = self.held, []
                for done, item in enumerate(batch, 1):
                    try:
                        self._build(item)
                    except BaseException:
                        self.held[:0] = batch[done:]  # the rest stays for the next release
                        raise
                    if until_stop and (arrived or self.stop.requested):
                        self.held[:0] = batch[done:]
                        break
                if until_stop and (arrived or self.stop.requested):
                    break
        self.stats.held = len(self.held)
        redeliver(arrived)

    def _build(self, item: AgentRecord) -> None:
        if isinstance(item, ProbeHit):
            for event in self.builder.feed(item):
                self.record(event)
        elif isinstance(item, AgentError):
            self.record_external(self.builder.agent_error(item.as_dict(), time.monotonic_ns()))

    @property
    def limit_met(self) -> bool:
        return self.done_reason in LIMITS or (self.done_reason or "").startswith("until")

    def drain(self, target: Target, timeout: float, *, everything: bool = False) -> bool:
        """Take what the agent sent; False once its pipe has closed."""
        until = time.monotonic() + DRAIN_SLICE_S
        for taken, item in enumerate(target.drain(timeout), 1):
            if item is None:
                return False
            self.take(item)
            if everything:
                continue
            if self.stop.requested or (self.control is not None and self.control.pending):
                break  # serve a stop or a pause now, not after a long backlog
            if taken % 64 == 0 and time.monotonic() > until:
                break
        return True

    # The loop -------------------------------------------------------------------------------

    def run(self, target: Target) -> None:
        with tracer_yields_cpu():
            self._run(target)

    def _run(self, target: Target) -> None:
        deadline = None if self.options.timeout is None else time.monotonic() + self.options.timeout
        target.resume()
        last_progress = 0.0
        self.last_activity = time.monotonic()
        while self.done_reason is None:
            if self.stop.requested:
                self.done_reason = self.stop.reason
                break
            if self.pausing is not None and self.pausing.serve(target):
                continue  # paused: nothing runs, so nothing times out
            if self.done_reason is not None or not self._step(target):
                break
            if self.stop.requested:
                continue  # asked during the drain: that is why it ends, not a timeout
            now = time.monotonic()
            paused = self.pausing.paused_s if self.pausing is not None else 0.0
            if deadline is not None and now - paused > deadline:
                self.done_reason = "timeout"
            elif self.options.idle_timeout and now - self.last_activity > self.options.idle_timeout:
                self.done_reason = "hang"
            if self.progress is not None and now - last_progress > 0.25:
                last_progress = now
                self.progress(self.stats)

    def _step(self, target: Target) -> bool:
        """Drain once and answer a stop; False when the guest or gdb is gone."""
        alive = self.drain(target, 0.05)
        if self.limit_met:
            return False  # a stop after the last event wanted is not answered
        stop = target.poll_stop()
        if stop is not None and not self.handle_stop(target, stop):
            return False
        if target.guest_returncode is not None:
            self.drain(target, 0.1)
            self.guest_ended(target)
            return False
        if not alive or not target.control_alive:
            raise GdbDied(f"{target.control_death()} during the capture")
        return True

    def handle_stop(self, target: Target, stop: StopEvent) -> bool:
        """A real stop: the LSTAR write, the MSR snapshot, or the end. True to keep going."""
        if stop.ended:
            self.guest_ended(target)
            return False
        if stop.reason not in ("breakpoint-hit", "stopped"):
            if target.guest_returncode is not None:
                self.guest_ended(target)
                return False
            if self.control is not None and stop.detail == "SIGINT":
                target.resume()  # a pause's interrupt that arrived late: not the agent's stop
                return True
        target.flush_agent()
        self.drain(target, 0.2)
        self.release()  # what the arming reads (the LSTAR written, a vDSO image) is in them
        self.arming.at_stop(target, stop.pc)
        target.resume()
        return True

    def guest_ended(self, target: Target) -> None:
        """QEMU is gone (or gdb says so): a power-off, a triple fault, or QEMU killed."""
        code = target.wait_guest(2.0)
        if code is None:
            raise GdbDied("gdb lost its connection to QEMU, which is still running")
        if code < 0:
            raise QemuDied(f"QEMU was killed by {signal_name(-code)}")
        self.qemu_exit = code
        # What the agent still holds (function-graph drains keep records back) happened before
        # the end: a limit met in them ends the capture, not the power-off.
        with contextlib.suppress(TargetError):
            self.drain_all(target)
        if self.done_reason is not None:  # the limit was met first, in the records drained
            return
        self.done_reason = "triple-fault" if target.triple_faulted() else "guest-exit"

    def drain_all(self, target: Target) -> None:
        """Every record the agent has written, so what is decided now follows them: as long
        as they keep coming (a tracer process starved by a loaded host takes its time), up to
        DRAIN_ALL_IDLE_S without one."""
        written = target.flush_agent()
        taken, since = self.stats.records, time.monotonic()
        try:
            while self.drain(target, 0.05, everything=True):
                if written is None or self.stats.records >= written:
                    return
                now = time.monotonic()
                if self.stats.records > taken:
                    taken, since = self.stats.records, now
                elif now - since > DRAIN_ALL_IDLE_S:
                    return
        finally:
            self.release()

    # The end --------------------------------------------------------------------------------

    def finish(self, target: Target) -> SessionEnd:
        """End gdb and QEMU (once), then record every record still queued."""
        end = target.finish()
        self.stats.mark("finish")
        for item in target.drain(0.0):
            if item is not None:
                self.take(item)
        self.release()
        for event in self.builder.flush_held():
            self.record(event)
        self.stats.agent_written = end.agent_written
        for key in AGENT_STAT_KEYS:
            if key in target.agent_stats:
                self.writer.set_meta(f"agent_{key}", str(target.agent_stats[key]))
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
                    Gap(self.builder._seq(), self.now(), f"capture ended: {self.error}")
                )
            elif reason in ABNORMAL_ENDS:
                tail = f"; guest console: {console}" if console else ""
                self.note(f"capture ended: {ABNORMAL_ENDS[reason]}{tail}", "warning")
            elif reason == "guest-exit" and self.guest_status not in (0, None):
                tail = f"; guest console: {console}" if console else ""
                level = "warning" if self.programs_not_started() else "info"
                self.note(
                    f"capture ended: guest exited with status {self.guest_status}{tail}", level
                )
            else:
                self.note(f"capture ended: {reason}")

    def programs_not_started(self) -> list[str]:
        started = [name for _pid, name in self.started]
        missing = []
        for program in self.options.programs:
            if program.name in started:
                started.remove(program.name)
            else:
                missing.append(program.name)
        return missing

    @property
    def guest_status(self) -> int | None:
        return guest_exit_status(self.qemu_exit)


def signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
