"""Syscalls through two watchpoints on the running thread's frame instead of breakpoints.

QEMU's gdbstub empties its translation cache at every breakpoint stop (the guest's code is
translated again after each), not at a watchpoint's, and a watchpoint needs no step over it:
QEMU stops after the access. So on one CPU, once a thread's first syscall stopped at the entry
breakpoint, its syscalls are taken at two watchpoints on its pt_regs frame:

- an access watchpoint on the word below the frame, where the dispatcher call pushes its
  return address: a stop at the dispatcher's first instruction is the entry (every register
  as at the call but rip and rsp). gdb reports a write only when the value changes, and the
  call writes the same address each time, hence access; it is off from the entry to the exit,
  so the dispatcher's `ret` reading the word back is no stop;
- a read watchpoint on the frame's first word, which the exit path's first pop reads back: a
  stop right after the first pop of a way out is the exit (the exit work and any base switch
  before it done, the frame still whole), before that way's swapgs, which the tracer rebuilds
  as it does where Linux's dispatcher returns.

Other code touches these words too (an interrupt of user mode builds its frame at the same
place, a clone reads its parent's): those stops are at other places and record nothing. The
entry breakpoint waits, lifted, while the running thread's frame is watched, and comes back at
each context switch (`ProbePlan.lifts_sites`: one CPU, every switch probed). The sysretq
probes wait unarmed: they come back, with the entry breakpoint for good, when a syscall's exit
was not seen before its thread's next entry or an interrupt of its user mode (a way out the
tracer did not find).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracer.probes import syscall
from tracer.probes.kinds import Mode, ProbeKind
from tracer.probes.stops import MASK64, PAGE, Cpu, ProbeSpec, StopContext
from tracer.probes.syscall_exit import at_frame

if TYPE_CHECKING:
    from tracer.image import ElfImage, EntryPath
    from tracer.probes.plan import ProbePlan, SiteRequest

EXITS = ("sysretq", "iretq", "sysexit")
MAX_WATCHED_FRAMES = 32  # threads whose frames stay watched (two watchpoints each)


@dataclass(frozen=True)
class WatchSites:
    """What the agent compares a watchpoint stop's rip with."""

    call: int  # the dispatcher call (the entry's recorded pc)
    dispatcher: int  # the call's target: rip after the call's write
    exit_pops: tuple[int, ...]  # rip after each way out's first pop of the frame

    def to_json(self) -> dict[str, Any]:
        return {"call": self.call, "dispatcher": self.dispatcher, "exit_pops": self.exit_pops}


# --- the plan ----------------------------------------------------------------------------------


def _ways_out(path: EntryPath) -> list[tuple[int, int, int | None]]:
    """Each way out after the dispatcher call: (its first pop, the instruction after it, the
    swapgs between the pop and the exit instruction). A pop that follows another pop is not a
    way's first; a run of pops that reaches no exit instruction is no way out."""
    insns = sorted(
        {
            i.addr: i
            for i in path.instructions
            if path.dispatch_call is None or i.addr > path.dispatch_call
        }.values(),
        key=lambda i: i.addr,
    )
    ways = []
    for index, insn in enumerate(insns):
        if insn.mnemonic != "pop" or (index and insns[index - 1].mnemonic == "pop"):
            continue
        swap = None
        for later in insns[index + 1 :]:
            if later.mnemonic == "swapgs":
                swap = later.addr
            if later.mnemonic.startswith(EXITS) or later.mnemonic in ("ret", "jmp", "call"):
                if later.mnemonic.startswith(EXITS):
                    ways.append((insn.addr, insn.end, swap))
                break
    return ways


def find_sites(plan: ProbePlan, image: ElfImage, request: SiteRequest) -> None:
    """After the syscall entry's sites: take its syscalls by watchpoints where it may."""
    if plan.entry is not None and "syscall" in request.probes:
        add_watch(plan, plan.entry)


def add_watch(plan: ProbePlan, path: EntryPath) -> None:
    """Take this path's syscalls by watchpoints when the plan asked for them and may: one CPU
    with every switch probed, the default mode, a direct dispatcher call, ways out that pop
    the frame with no call between the first pop and the exit instruction (the exit is taken
    at that pop: whatever runs after it the trace would see too late), and Linux's iret route
    not in the way (its frame moves: `syscall.add_return_exit`)."""
    if not plan.watch_wanted or plan.mode != Mode.DEFAULT or not plan.lifts_sites(1):
        return
    reasons = []
    call = next((i for i in path.instructions if i.addr == path.dispatch_call), None)
    if call is None or path.dispatcher is None or path.regs_pointer is None:
        reasons.append("no direct dispatcher call")
    if plan.return_exits:
        reasons.append("the frame moves before the iretq")
    ways = _ways_out(path)
    if not ways:
        reasons.append("no pop of the frame before the exit instruction")
    if reasons or call is None or path.dispatcher is None:
        plan.notes.append("syscalls by breakpoints, not watchpoints: " + "; ".join(reasons))
        return
    irets = tuple(site.addr for site in path.exit_sites if site.kind == "iretq")
    for _pop, pc, swap in ways:
        plan.return_exits[pc] = syscall.ReturnExit(
            sysret_swapgs=swap, iret_swapgs=swap, irets=irets
        )
    plan.watch = WatchSites(call.addr, path.dispatcher, tuple(pc for _pop, pc, _swap in ways))


# --- at the stop (in gdb) ----------------------------------------------------------------------


class AtCall:
    """A watchpoint's stop after the dispatcher call, seen as the call itself (the entry's
    site): rip the call's, rsp one word higher; every other register is as it was there."""

    def __init__(self, cpu: Cpu, call: int) -> None:
        self.cpu = cpu
        self.call = call

    @property
    def thread(self) -> int:
        return self.cpu.thread

    def reg(self, name: str) -> int:
        if name == "rip":
            return self.call
        value = self.cpu.reg(name)
        return (value + 8) & MASK64 if name == "rsp" else value

    def read(self, addr: int, length: int) -> bytes | None:
        return self.cpu.read(addr, length)

    def write(self, addr: int, data: bytes) -> bool:
        return self.cpu.write(addr, data)

    def callers(self, depth: int) -> list[int]:
        return self.cpu.callers(depth)


Watchpoint = Any  # the agent's gdb watchpoint or breakpoint: has `enabled`


class SyscallWatch:
    """The agent's side: which frames are watched, and what a watchpoint stop means.

    `make(addr, write)` sets a watchpoint on a word (write: an access watchpoint, as gdb stops
    at a write only when the value changes, and the call writes the same return address each
    time; else a read watchpoint). `waiting`: the breakpoints that wait while frames are
    watched (`kind_of`). `report` takes the error record when the watchpoints give up."""

    def __init__(
        self,
        sites: dict[str, Any],
        entry: ProbeSpec,
        make: Callable[[int, bool], Watchpoint],
        report: Callable[[dict[str, Any]], None],
    ) -> None:
        self.call = int(sites["call"])
        self.dispatcher = int(sites["dispatcher"])
        self.exit_pops = frozenset(int(pc) for pc in sites["exit_pops"])
        self.entry = entry
        self.make = make
        self.report = report
        self.waiting: list[Watchpoint] = []
        self.watched: OrderedDict[int, tuple[Watchpoint, Watchpoint]] = OrderedDict()
        self.paused: list[Watchpoint] = []  # out while the tracer steps the guest
        self.pauses = 0
        self.lifted: list[Watchpoint] = []  # out while a breakpoint's step runs over their word
        self.active = True
        self.cache: Callable[[int, int], None] | None = None
        self.frame_size = 168
        self.stops = 0
        self.made = 0

    def start(
        self, breakpoints: list[Watchpoint], frame_size: int, cache: Callable[[int, int], None]
    ) -> None:
        """The exits wait from the start; the entry breakpoint takes each thread's first, and
        neither is lifted the breakpoints' way (`registry.liftable`): the watchpoints do it.
        `cache(lo, hi)` turns on gdb's memory cache there (`cache_frame`)."""
        self.waiting = [bp for bp in breakpoints if kind_of(bp.probe)]
        for bp in self.waiting:
            bp.liftable = False
            bp.enabled = kind_of(bp.probe) == "entry"
        self.frame_size = frame_size
        self.cache = cache

    def put_back(self) -> None:
        for watch in self.lifted:
            watch.enabled = True
        self.lifted = []

    def at_breakpoint(self, ctx: StopContext, kind: str, cpu: Cpu) -> None:
        """Before a breakpoint's handler: a switch may run a thread with no frame watched; a
        syscall entry on a frame whose last syscall never left was missed by the watchpoints."""
        self.put_back()
        if not self.active:
            return
        if kind == ProbeKind.CONTEXT_SWITCH:
            for bp in self.waiting:
                bp.enabled = bp.enabled or kind_of(bp.probe) == "entry"
        elif kind in (ProbeKind.SYSCALL_ENTRY, ProbeKind.INTERRUPT_ENTRY):
            # An interrupt of user mode on a frame with a syscall in flight: the same.
            pointer = (
                self.entry.get("regs_pointer", "rdi") if kind == ProbeKind.SYSCALL_ENTRY else "rsp"
            )
            regs_addr = cpu.reg(str(pointer))
            if regs_addr in self.watched and self.missed_exit(ctx, regs_addr):
                self.give_up()

    def after_breakpoint(self, kind: str, bp: Watchpoint, cpu: Cpu) -> None:
        """After a breakpoint's handler (a real stop too: the syscall's exit is still the
        watchpoints'): a syscall entry's thread gets its frame watched, and the entry
        breakpoint waits. gdb steps over a breakpoint with the watchpoints blind (QEMU reports
        the step, not the access, and gdb takes it for a signal): a watched word the
        breakpoint's call would write is lifted until the next stop, and the entry breakpoint
        itself is lifted rather than stepped over."""
        if not self.active:
            return
        if kind == ProbeKind.SYSCALL_ENTRY:
            regs_addr = cpu.reg(str(self.entry.get("regs_pointer", "rdi")))
            if regs_addr != cpu.reg("rsp"):  # its return address is not right below the frame
                self.give_up(missed=False)  # nothing missed: this exit is the breakpoints'
                return
            self.watch(regs_addr)
            self.entered(regs_addr)
            bp.enabled = False
        elif kind == ProbeKind.INTERRUPT_ENTRY:
            pair = self.watched.get(cpu.reg("rsp"))  # from user mode: the syscalls' frame
            if pair is not None and pair[0].enabled:
                pair[0].enabled = False
                self.lifted.append(pair[0])

    def entered(self, regs_addr: int) -> None:
        """A syscall on this frame: its call write is watched no more until its exit (no stop
        at the dispatcher's ret, nor at the calls an interrupt of the syscall makes there)."""
        pair = self.watched.get(regs_addr)
        if pair is not None:
            pair[0].enabled = False

    def watch(self, regs_addr: int) -> None:
        if regs_addr not in self.watched:
            while len(self.watched) >= MAX_WATCHED_FRAMES:
                pair = self.watched.popitem(last=False)[1]
                self.lifted = [w for w in self.lifted if w not in pair]
                self.paused = [w for w in self.paused if w not in pair]
                for old in pair:
                    old.delete()
            self.watched[regs_addr] = (self.make(regs_addr - 8, True), self.make(regs_addr, False))
            self.made += 2
            self.cache_frame(regs_addr)
        self.watched.move_to_end(regs_addr)

    def cache_frame(self, regs_addr: int) -> None:
        """gdb's memory cache on the frame's pages, emptied whenever the guest runs: at a
        watchpoint's stop gdb reads the watched words 4-5 times, the agent the frame; with the
        cache, one read of the line (`dcache line-size`, set at install) serves them all."""
        if self.cache is None:
            return
        lo = (regs_addr - 8) & ~(PAGE - 1)
        hi = -(-(regs_addr + self.frame_size) // PAGE) * PAGE
        try:
            self.cache(lo, hi)
        except Exception:  # noqa: BLE001 - overlapping an earlier frame's region: cached there
            pass

    def missed_exit(self, ctx: StopContext, regs_addr: int) -> bool:
        """A new syscall on a frame whose last syscall is still in flight: its exit went by
        unseen (a way out the tracer did not find)."""
        frame = ctx.frames.get(regs_addr)
        return frame is not None and frame.kind == "syscall" and frame.nr is not None

    def at_stop(self, ctx: StopContext, cpu: Cpu, write: bool) -> bool | None:
        """A watchpoint's stop: the entry, the exit, or (None) neither. The result is the
        kind's: True asks for a real stop."""
        self.stops += 1
        self.put_back()
        pc = cpu.reg("rip")
        if write:
            if pc != self.dispatcher:
                return None
            regs_addr = (cpu.reg("rsp") + 8) & MASK64
            if self.missed_exit(ctx, regs_addr):
                self.give_up()
            else:
                self.entered(regs_addr)
            return syscall.at_entry(ctx, self.entry, AtCall(cpu, self.call))
        if pc not in self.exit_pops:
            return None
        regs_addr = (cpu.reg("rsp") - 8) & MASK64
        frame = ctx.frames.get(regs_addr)
        if frame is not None and frame.kind == "syscall" and regs_addr in self.watched:
            self.watched[regs_addr][0].enabled = True  # the next syscall's call write
        return at_frame(ctx, cpu, regs_addr)

    def pause(self, paused: bool) -> None:
        """While the tracer steps the guest itself (an injected rdmsr, the user's steps), the
        watchpoints are out: a single step after a watchpoint's stop was seen not to move.
        Pauses nest; the last one out puts back what the first took out."""
        self.pauses = max(self.pauses + (1 if paused else -1), 0)
        if paused and self.pauses == 1:
            self.paused = [w for pair in self.watched.values() for w in pair if w.enabled]
            for watch in self.paused:
                watch.enabled = False
        elif not paused and self.pauses == 0:
            for watch in self.paused:
                watch.enabled = True
            self.paused = []

    def give_up(self, missed: bool = True) -> None:
        """The breakpoints take every syscall from here on: a syscall's exit went by unseen
        (`missed`, reported as a gap), or the frame is not where the watchpoints expect it."""
        self.active = False
        for pair in self.watched.values():
            for watch in pair:
                watch.enabled = False
        self.lifted = []
        for bp in self.waiting:
            bp.enabled = True
        if not missed:
            return
        error = (
            "a syscall's exit went by unseen (a way out of the kernel the tracer did not "
            "find): syscalls may be missing since the last exit seen; syscalls by breakpoints "
            "from here on"
        )
        self.report({"probe": str(ProbeKind.AGENT_ERROR), "kind": str(ProbeKind.SYSCALL_EXIT),
                     "error": error, "gap": True})  # fmt: skip


def kind_of(probe: ProbeSpec) -> str:
    """Which breakpoints wait while frames are watched: the entry, and the sysretq exits."""
    if probe.get("kind") == ProbeKind.SYSCALL_ENTRY:
        return "entry"
    if probe.get("kind") == ProbeKind.SYSCALL_EXIT and probe.get("exit_kind") == "sysretq":
        return "exit"
    return ""
