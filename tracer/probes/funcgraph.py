"""Function-graph probes by breakpoints: any kernel ELF with symbols, no instrumentation.

A breakpoint on each chosen function's first instruction and on each of its return sites
(`ret` and tail `jmp`s out of the function, found by disassembly). Every stop is expensive under
TCG (QEMU flushes its translation cache), so a large set is refused unless asked for.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tracer.events import Event, FuncEntry, FuncExit, SegBases
from tracer.probes.kinds import AgentProbe, ProbeKind
from tracer.probes.stops import Cpu, ProbeSpec, StopContext

if TYPE_CHECKING:
    from tracer.image import ElfImage
    from tracer.probes.builder import EventBuilder
    from tracer.probes.plan import ProbePlan
    from tracer.target.gdb import ProbeHit

LARGE_SET = 40


@dataclass(frozen=True)
class GraphFunction:
    name: str
    addr: int
    size: int
    returns: tuple[int, ...]  # `ret` instructions
    tail_calls: tuple[tuple[int, int], ...] = ()  # (jmp site, target) leaving the function


class GraphError(Exception):
    """The function set cannot be graphed as asked."""


def select_functions(image: ElfImage, patterns: list[str]) -> list[str]:
    """Function names matching shell-style patterns (`sys_*`, `do_syscall_64`)."""
    names = sorted({s.name for s in image.symbols if s.type == "func" and s.size})
    chosen: list[str] = []
    for pattern in patterns:
        matches = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not matches:
            raise GraphError(f"no function matches {pattern!r}")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def return_sites(
    image: ElfImage, addr: int, size: int
) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    """`ret` instructions, and jumps that leave the function (tail calls) with their targets."""
    from tracer.image import disassemble  # noqa: PLC0415 - capstone, tracer side only

    rets, tails = [], []
    for insn in disassemble(image, addr, addr + size):
        if insn.mnemonic.startswith("ret"):
            rets.append(insn.addr)
        elif insn.mnemonic == "jmp" and insn.op_str.startswith("0x"):
            target = int(insn.op_str, 16)
            if not addr <= target < addr + size:
                tails.append((insn.addr, target))
    return tuple(rets), tuple(tails)


def graph_functions(
    image: ElfImage, patterns: list[str], allow_large: bool = False
) -> list[GraphFunction]:
    names = select_functions(image, patterns)
    if len(names) > LARGE_SET and not allow_large:
        raise GraphError(
            f"{len(names)} functions match: every call costs two guest stops (QEMU flushes its "
            f"translation cache at each); narrow the set or pass --graph-large"
        )
    out = []
    for name in names:
        sym = image.symbol(name)
        assert sym is not None
        rets, tails = return_sites(image, sym.addr, sym.size)
        out.append(GraphFunction(name, sym.addr, sym.size, rets, tails))
    return out


def resolve_functions(image: ElfImage, patterns: tuple[str, ...] | list[str]) -> list[int]:
    """Addresses of the functions the patterns name (for ring-buffer filters)."""
    if not patterns:
        return []
    out = []
    for name in select_functions(image, list(patterns)):
        sym = image.symbol(name)
        if sym is not None:
            out.append(int(sym.addr))
    return out


def add_graph_probes(
    plan: ProbePlan, functions: list[GraphFunction], notrace: Sequence[GraphFunction] = ()
) -> None:
    """Breakpoint-mode function graph: entry and every return site of each function; for
    set_graph_notrace functions too, so what runs inside them can be left out."""
    traced = {f.addr for f in [*functions, *notrace]}
    quiet = {f.addr for f in notrace}
    graphed = {g.addr for g in functions}
    for f in [*functions, *[n for n in notrace if n.addr not in graphed]]:
        flag = (("notrace", True),) if f.addr in quiet else ()
        plan.probes.append(AgentProbe(f.addr, ProbeKind.FUNC_ENTRY, (("func", f.addr), *flag)))
        for site in f.returns:
            exit_ = (("func", f.addr), ("how", "ret"))
            plan.probes.append(AgentProbe(site, ProbeKind.FUNC_EXIT, exit_))
        # A tail call into a traced function returns through that function's `ret`, as
        # ftrace's return hook sees it; into anything else, the jump is this one's exit.
        # A notrace function's tail callee still runs inside it (ftrace's hook sees it so).
        for site, target in f.tail_calls if f.addr not in quiet else ():
            if target not in traced:
                exit_ = (("func", f.addr), ("how", "tail"))
                plan.probes.append(AgentProbe(site, ProbeKind.FUNC_EXIT, exit_))
    plan.graph_functions = {f.addr: f.name for f in functions}


# --- at the stop (in gdb) ----------------------------------------------------------------------


def at_entry(ctx: StopContext, probe: ProbeSpec, cpu: Cpu) -> bool:
    notrace = bool(probe.get("notrace"))
    rsp = cpu.reg("rsp")
    ctx.emit(
        ProbeKind.FUNC_ENTRY, cpu.reg("rip"), cpu, func=probe["func"], rsp=rsp, notrace=notrace
    )
    return False


def at_exit(ctx: StopContext, probe: ProbeSpec, cpu: Cpu) -> bool:
    ctx.emit(
        ProbeKind.FUNC_EXIT,
        cpu.reg("rip"),
        cpu,
        func=probe["func"],
        rax=cpu.reg("rax"),
        rsp=cpu.reg("rsp"),
        how=probe.get("how", "ret"),
    )
    return False


# --- events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    func: int
    rsp: int  # at entry: the slot holding the return address
    quiet: bool  # inside a set_graph_notrace function: nothing is recorded


@dataclass
class CallStacks:
    by_thread: dict[tuple[int, int], list[Frame]] = field(default_factory=dict)  # (cpu, pid)

    def of(self, cpu: int, pid: int) -> list[Frame]:
        return self.by_thread.setdefault((cpu, pid), [])


def _quiet(stack: list[Frame]) -> bool:
    return bool(stack) and stack[-1].quiet


def on_entry(core: EventBuilder, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
    pid = core.pid(hit)
    stack = core.state(CallStacks).of(hit.cpu, pid)
    func = int(hit.fields["func"])
    quiet = bool(hit.fields.get("notrace")) or _quiet(stack)
    if not quiet:
        depth = len(stack)
        out.append(
            FuncEntry(
                core.next_seq(), core.time(hit), hit.cpu, pid, func, depth, None, "breakpoint"
            )
        )
    stack.append(Frame(func, int(hit.fields.get("rsp", 0)), quiet))


def on_exit(core: EventBuilder, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
    """A `ret` with RSP at a frame's return address ends that frame and every frame a tail
    call left on the same slot; a tail jump ends its own function only."""
    pid = core.pid(hit)
    stack = core.state(CallStacks).of(hit.cpu, pid)
    func, rsp = int(hit.fields["func"]), int(hit.fields.get("rsp", 0))
    retval = hit.fields.get("rax")
    if hit.fields.get("how") == "tail":
        ending = [len(stack) - 1] if stack and stack[-1].func == func else []
    else:
        ending = [i for i, frame in enumerate(stack) if frame.rsp <= rsp]

    def leave(done: int) -> None:
        out.append(
            FuncExit(
                core.next_seq(),
                core.time(hit),
                hit.cpu,
                pid,
                done,
                len(stack),
                None,
                retval,
                "breakpoint",
            )
        )

    if not ending:
        if not _quiet(stack):
            leave(func)
        return
    for _ in range(len(stack) - 1, min(ending) - 1, -1):
        frame = stack.pop()
        if not frame.quiet:
            leave(frame.func)
