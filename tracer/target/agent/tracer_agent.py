"""The tracer's hot path, loaded into gdb with `source` (or imported by name).

Each probe is a gdb breakpoint whose `stop()` runs its kind's agent side (`tracer.probes.
registry`: what to read, one record to emit) and returns False, so the guest never waits on the
tracer. Records go to the tracer as JSON lines on a pipe inherited from it (fd in
TRACER_AGENT_FD), in batches written when large or every 50 ms by a flusher thread that never
calls gdb. A probe returns True (a real stop, seen over MI) only when the tracer asked for it: the
LSTAR write when the entry is not yet known, or the first syscall when MSRs are to be read.

Runs in gdb's own Python: stdlib and `gdb` only, plus the tracer's pure modules (`tracer.probes`
kinds, `tracer.decode`), found at TRACER_PACKAGE_ROOT (else beside this file).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
import time
from typing import Any

import gdb  # type: ignore[import-not-found]


def _package_root() -> str:
    """Where the `tracer` package is: the tracer says so; by hand, it is above this file."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("TRACER_PACKAGE_ROOT") or os.path.dirname(
        os.path.dirname(os.path.dirname(here))
    )


PACKAGE_ROOT = _package_root()
if PACKAGE_ROOT not in sys.path:
    sys.path.insert(0, PACKAGE_ROOT)

from tracer.probes import ringbuf, syscall_watch  # noqa: E402 - only once the path is known
from tracer.probes.kinds import ProbeKind  # noqa: E402
from tracer.probes.registry import KINDS, liftable  # noqa: E402
from tracer.probes.stops import MASK64, StopContext, regs  # noqa: E402

# Records are encoded by the flusher thread while the guest runs, not in the stop that made
# them (json.dumps was ~12 us of each stop); a stop flushes itself only past this many.
BATCH_RECORDS = 1024
FLUSH_SECONDS = 0.05
ENCODE = json.JSONEncoder(separators=(",", ":")).encode
PIPE_BYTES = 1 << 20  # a tracer that falls behind for a moment must not block a stop
F_SETPIPE_SZ = 1031
# Compared between two hits at one place to tell a real second pass from gdb repeating one;
# not eflags: RF moves.
DUPLICATE_CHECK = ("rsp", "rax", "rcx", "rdx", "rdi", "rsi", "r11", "r8")

AGENT: Agent | None = None  # the installed plan


class _RegisterExpr(dict):
    """Register name -> its gdb expression ("rsp" -> "$rsp"), made once per name."""

    def __missing__(self, name: str) -> str:
        self[name] = "$" + name
        return self[name]


REGISTER_EXPR = _RegisterExpr()


class Batch:
    """Records waiting to go to the tracer; shared with the flusher thread under a lock."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        try:
            import fcntl

            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
        except (ImportError, OSError):
            pass  # not a pipe (tests), or above the system's limit: the default size
        self.lock = threading.Lock()
        self.records: list[dict] = []  # not changed once added (the kinds' rule)
        self.written = 0
        self.closed = False

    def add(self, record: dict) -> None:
        with self.lock:
            self.records.append(record)
            full = len(self.records) >= BATCH_RECORDS
        if full:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            if not self.records or self.closed:
                return
            records, self.records = self.records, []
            data = "".join([ENCODE(record) + "\n" for record in records]).encode()
            self.written += len(records)
            view = memoryview(data)
            while view:
                try:
                    sent = os.write(self.fd, view)
                except OSError:
                    self.closed = True
                    return
                view = view[sent:]

    def run_flusher(self) -> None:
        while not self.closed:
            time.sleep(FLUSH_SECONDS)
            self.flush()


class GdbCpu:
    """The `tracer.probes.stops.Cpu` for the thread (vCPU) that hit a probe."""

    inferior: Any = None  # gdb.Inferior, once the first stop has run

    def __init__(self, pc: int | None = None) -> None:
        # At a breakpoint's stop the pc is the breakpoint's address: no read for it.
        self.cache: dict[str, int] = {} if pc is None else {"rip": pc}  # read at this stop
        self.thread = gdb.selected_thread().num  # QEMU's vCPU n is gdb thread n + 1
        if GdbCpu.inferior is None:
            GdbCpu.inferior = gdb.selected_inferior()

    def reg(self, name: str) -> int:
        """A register of frame #0 as `$name`, not `gdb.Frame.read_register`: a gdb.Frame costs
        gdb its frame id (unwinder sniffing, prologue analysis: 35-80 us a stop), `$name` only
        the frame (the first read ~12 us, each further ~4 us against ~2.3 by a Frame)."""
        value = self.cache.get(name)
        if value is None:
            value = self.cache[name] = int(gdb.parse_and_eval(REGISTER_EXPR[name])) & MASK64
        return value

    def read(self, addr: int, length: int) -> bytes | None:
        if length <= 0:
            return b""
        try:
            return bytes(self.inferior.read_memory(addr, length))
        except (gdb.MemoryError, gdb.error, OverflowError, ValueError):
            return None

    def write(self, addr: int, data: bytes) -> bool:
        try:
            self.inferior.write_memory(addr, data)
        except (gdb.MemoryError, gdb.error):
            return False
        return True

    def callers(self, depth: int) -> list[int]:
        """Return addresses up the stack (gdb's unwinder, DWARF CFI), for attribution."""
        out: list[int] = []
        try:
            frame = gdb.selected_frame().older()
            while frame is not None and len(out) < depth:
                out.append(frame.pc())
                frame = frame.older()
        except gdb.error:
            pass
        return out


class Agent:
    """The installed plan: its probes, the kinds' shared state, and the agent's counters."""

    def __init__(self, plan: dict) -> None:
        self.plan = plan
        self.batch = Batch(int(os.environ["TRACER_AGENT_FD"]))
        self.ctx = StopContext.from_plan(plan, self.batch.add)
        self.breakpoints: list[gdb.Breakpoint] = []
        # vCPU -> its last hit's address and registers (None: lifted, `passed`)
        self.last_hit: dict[int, tuple[int, dict | None]] = {}
        self.duplicates = 0
        # While the tracer runs code in the guest (an injected rdmsr single-stepped at a probe's
        # address), gdb may report that probe's breakpoint: such a hit is no pass of the guest.
        self.quiet = False
        self.quiet_hits = 0
        self.handler_ns = 0
        self.stop_ns = 0  # the whole stop(): the frame, the duplicate check and the handler
        self.handled = 0
        # Sites lifted at their stop (no step over them: one guest run a stop instead of two),
        # put back at the next stop; only when the plan says it is safe (`liftable`). gdb's
        # manual advises stop() against altering breakpoints: only `enabled` is flipped here,
        # none is added or deleted; gdb applies it at once (always-inserted), and the truth
        # tests check that no hit is lost.
        self.lifts = bool(plan.get("lift_sites", False))
        self.lifted: list[Probe] = []  # by the last stop
        self.lifted_stops = 0
        self.watch: syscall_watch.SyscallWatch | None = None  # syscalls by watchpoints
        thread = threading.Thread(target=self.batch.run_flusher, name="agent-flush", daemon=True)
        thread.start()

    def arm(self, probes: list) -> None:
        sites = self.plan.get("watch") or {}
        for probe in probes:
            self.breakpoints.append(Probe(self, probe))
            if probe["kind"] == ProbeKind.SYSCALL_ENTRY and probe["addr"] == sites.get("call"):
                make = functools.partial(Watch, self)
                self.watch = syscall_watch.SyscallWatch(sites, probe, make, self.batch.add)
        if self.watch is not None and not self.watch.waiting:
            for setting in ("mem inaccessible-by-default off", "dcache line-size 256"):
                gdb.execute("set " + setting, to_string=True)  # `SyscallWatch.cache_frame`
            self.watch.start(self.breakpoints, self.ctx.ptregs_size, cache_region)

    def watch_stop(self, write: bool) -> bool:
        """A watchpoint's stop (`syscall_watch`): timed and guarded as a breakpoint's."""
        entered = time.perf_counter_ns()
        watch = self.watch
        try:
            if self.quiet or watch is None or not watch.active:
                return False
            self.handled += 1
            cpu = GdbCpu()
            stop = bool(watch.at_stop(self.ctx, cpu, write))
            if stop:
                ringbuf.release(self.ctx, cpu)
            return stop
        except Exception as exc:  # a probe must never stop the guest by accident
            kind = ProbeKind.SYSCALL_ENTRY if write else ProbeKind.SYSCALL_EXIT
            record = {"probe": str(ProbeKind.AGENT_ERROR), "kind": str(kind)}
            self.batch.add({**record, "error": f"{type(exc).__name__}: {exc}"})
            return False
        finally:
            spent = time.perf_counter_ns() - entered
            self.stop_ns += spent
            self.handler_ns += spent  # all of it is the kind's

    def put_back(self) -> bool:
        """Re-insert the sites lifted at the last stop: another probe stopped since. True when
        one was the syscall entry."""
        entry = False
        for bp in self.lifted:
            entry = entry or bp.probe["kind"] == ProbeKind.SYSCALL_ENTRY
            if bp.is_valid():
                bp.enabled = True
        self.lifted = []
        return entry

    def check_lifting(self, probe: Probe) -> None:
        """Called at the stop right after a lifted syscall entry, which relies on every way
        back to user mode stopping at a probe first (the syscall's exit, a switch). An
        interrupt of user mode as this stop shows a way that does not, on this kernel: the
        syscalls made since went unseen. Say so in the trace (a gap) and step over every site
        from here on, as gdb does."""
        if probe.probe["kind"] != ProbeKind.INTERRUPT_ENTRY or not self.ctx.interrupted_user:
            return
        self.lifts = False
        error = (
            "syscalls may be missing before this interrupt: the CPU went back to user mode "
            "after a syscall entry with no exit probe stopping (a return path the tracer did "
            "not find); gdb steps over the syscall sites from here on"
        )
        self.batch.add({"probe": str(ProbeKind.AGENT_ERROR), "kind": probe.probe["kind"],
                        "error": error, "gap": True})  # fmt: skip

    def disarm(self) -> None:
        self.lifted = []
        for bp in self.breakpoints:
            if bp.is_valid():
                bp.delete()
        self.breakpoints = []

    def repeated(self, cpu: GdbCpu, addr: int) -> bool:
        """gdb's step over a breakpoint is now and then reported as a second hit at the same
        place with nothing changed (seen under TCG with a timer interrupt pending); a real
        second pass through the same place differs in some register. Per vCPU: the others'
        hits come between. Only the hit right after one that gdb stepped over, at the same
        place, can be such a report: no register is read for any other."""
        last = self.last_hit.get(cpu.thread)
        if last is None or last[0] != addr or last[1] is None:
            return False
        if regs(cpu, DUPLICATE_CHECK) != last[1]:
            return False
        self.duplicates += 1
        return True

    def passed(self, cpu: GdbCpu, addr: int, lifted: bool) -> None:
        """The hit to compare the vCPU's next one with: its registers, unless it was lifted
        (gdb does not step over it, so nothing can report it twice)."""
        self.last_hit[cpu.thread] = (addr, None if lifted else regs(cpu, DUPLICATE_CHECK))


class Probe(gdb.Breakpoint):
    def __init__(self, agent: Agent, probe: dict) -> None:
        kind = ProbeKind(probe["kind"])
        handler = KINDS[kind].at_stop
        if handler is None:
            raise ValueError(f"{kind} is a record, not a probe to arm")
        super().__init__(f"*{int(probe['addr']):#x}", internal=True)
        self.agent = agent
        self.probe = probe
        self.addr = int(probe["addr"])
        self.handler = handler
        self.liftable = liftable(probe)

    def stop(self) -> bool:
        entered = time.perf_counter_ns()
        try:
            return self._stop()
        finally:
            self.agent.stop_ns += time.perf_counter_ns() - entered

    def _stop(self) -> bool:
        agent = self.agent
        if agent.quiet:  # not a pass: nothing recorded, nothing to compare the next hit with
            agent.quiet_hits += 1
            return False
        entry_lifted = agent.put_back() if agent.lifted else False
        cpu = GdbCpu(self.addr)
        if agent.repeated(cpu, self.probe["addr"]):
            return False
        started = time.perf_counter_ns()
        lifted = False
        kind = self.probe["kind"]
        try:
            if agent.watch is not None:
                agent.watch.at_breakpoint(agent.ctx, kind, cpu)
            stop = bool(self.handler(agent.ctx, self.probe, cpu))
            if agent.watch is not None:  # even at a real stop: its exit is the watchpoint's
                agent.watch.after_breakpoint(kind, self, cpu)
            if entry_lifted:
                agent.check_lifting(self)
            if stop:  # the tracer will look now: nothing may wait in the ring or here
                ringbuf.release(agent.ctx, cpu)
            elif self.liftable and agent.lifts:  # gdb finds no breakpoint here: it goes on
                self.enabled = False
                agent.lifted.append(self)
                agent.lifted_stops += 1
                lifted = True
            return stop
        except Exception as exc:  # a probe must never stop the guest by accident
            error = f"{type(exc).__name__}: {exc}"
            record = {"probe": str(ProbeKind.AGENT_ERROR), "kind": self.probe["kind"]}
            agent.batch.add({**record, "error": error})
            return False
        finally:
            agent.passed(cpu, self.probe["addr"], lifted)
            agent.handler_ns += time.perf_counter_ns() - started
            agent.handled += 1


def cache_region(lo: int, hi: int) -> None:
    gdb.execute(f"mem {lo:#x} {hi:#x} rw cache", to_string=True)


class Watch(gdb.Breakpoint):
    """A watchpoint on a syscall frame's word (`syscall_watch`): write below it, read its first."""

    def __init__(self, agent: Agent, addr: int, write: bool) -> None:
        kind = gdb.WP_ACCESS if write else gdb.WP_READ  # a write stops only on a new value
        super().__init__(f"*(unsigned long *){addr:#x}", gdb.BP_WATCHPOINT, kind, internal=True)
        self.agent = agent
        self.write = write

    def stop(self) -> bool:
        return self.agent.watch_stop(self.write)


# --- commands the tracer runs over MI (`python tracer_agent.<name>(...)`) ----------------------


def _installed() -> Agent:
    if AGENT is None:
        raise RuntimeError("tracer agent: no plan installed")
    return AGENT


def install(plan_json: str) -> None:
    global AGENT
    if AGENT is not None:
        AGENT.disarm()
    AGENT = agent = Agent(json.loads(plan_json))
    agent.arm(agent.plan.get("probes", []))
    gdb.write(f"agent armed {len(agent.breakpoints)} probes\n")


def install_file(path: str) -> None:
    with open(path) as f:
        install(f.read())


def arm_file(path: str) -> None:
    with open(path) as f:
        arm(f.read())


def arm(probes_json: str) -> None:
    agent = _installed()
    agent.arm(json.loads(probes_json))
    gdb.write(f"agent armed {len(agent.breakpoints)} probes\n")


def flush() -> None:
    """Send everything: the ring drained in bulk while the guest's memory can be read (a
    stopped target), held records without their function records when it cannot."""
    if AGENT is not None:
        try:
            gdb.selected_frame()  # raises while the target runs
            cpu: GdbCpu | None = GdbCpu()
        except gdb.error:  # running, or QEMU gone
            cpu = None
        ringbuf.release(AGENT.ctx, cpu)
        AGENT.batch.flush()
        gdb.write(f"agent flushed {AGENT.batch.written}\n")


def set_stop_first_syscall(value: bool) -> None:
    _installed().ctx.stop_first_syscall = bool(value)


def set_stop_on_lstar(value: bool) -> None:
    _installed().ctx.stop_on_lstar = bool(value)


def set_quiet(value: bool) -> None:
    _installed().quiet = bool(value)
    set_watch_paused(value)


def set_watch_paused(value: bool) -> None:
    if _installed().watch is not None:
        _installed().watch.pause(bool(value))  # type: ignore[union-attr]


def set_ring_armed(value: bool) -> None:
    _installed().ctx.ring_armed = bool(value)


def stats() -> None:
    """One line for the tracer: probes handled, time spent in them, duplicates skipped."""
    a = _installed()
    gdb.write(
        f"agent-stats handled={a.handled} handler_ns={a.handler_ns} stop_ns={a.stop_ns} "
        f"duplicates={a.duplicates} quiet_hits={a.quiet_hits} written={a.batch.written} "
        f"lifted={a.lifted_stops} "
        f"watchpoints={a.watch.made if a.watch else 0} "
        f"watch_stops={a.watch.stops if a.watch else 0} "
        f"watching={int(bool(a.watch and a.watch.active))} "
        f"drain_ns={a.ctx.drain_ns} drain_bytes={a.ctx.drain_bytes} drains={a.ctx.drains}\n"
    )


def bench_read(addr: int, size: int, reps: int) -> None:
    """Bare gdb read_memory bandwidth at this stop, for comparison with the drain."""
    inferior = gdb.selected_inferior()
    started = time.perf_counter_ns()
    for _ in range(reps):
        inferior.read_memory(addr, size)
    ns = time.perf_counter_ns() - started
    gdb.write(f"bench-read bytes={size * reps} ns={ns}\n")
