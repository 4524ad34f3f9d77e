"""The probe plan: where to break and how to read each stop, learned from the kernel image."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tracer.decode.ptregs import LINUX_PT_REGS
from tracer.image import ElfImage, EntryPath, analyze_syscall_entry, scan_sites, struct_layout
from tracer.probes.funcgraph import GraphFunction
from tracer.probes.interrupts import InterruptStub, find_interrupt_stubs
from tracer.probes.ringbuf import RingLayout
from tracer.probes.sched import TaskLayout, find_switch, task_layout

ENTRY_SYMBOLS = ("entry_SYSCALL_64", "entry_SYSCALL_64_after_hwframe", "syscall_entry")
PT_REGS_NEEDED = {"orig_ax", "ax", "di", "si", "dx", "r10", "r8", "r9", "ip", "sp", "flags"}


class Mode(StrEnum):
    """default: ~2 stops per syscall, the rest reconstructed; exhaustive: stop at every site."""

    DEFAULT = "default"
    EXHAUSTIVE = "exhaustive"


ALL_PROBES = frozenset({"syscall", "msr", "segbase", "irq", "sched"})


class PlanError(Exception):
    """The kernel image lacks what a probe needs."""


@dataclass(frozen=True)
class AgentProbe:
    addr: int
    kind: str
    extra: tuple[tuple[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"addr": self.addr, "kind": self.kind, **dict(self.extra)}


@dataclass
class ProbePlan:
    mode: Mode
    probes: list[AgentProbe] = field(default_factory=list)
    entry: EntryPath | None = None
    ptregs_layout: tuple[tuple[str, int, int], ...] = LINUX_PT_REGS
    ptregs_size: int = 168
    ptregs_from_dwarf: bool = False
    notes: list[str] = field(default_factory=list)
    wants_lstar_stop: bool = False
    interrupt_stubs: dict[int, InterruptStub] = field(default_factory=dict)  # by dispatch call
    exit_swapgs: dict[int, int] = field(default_factory=dict)  # exit site -> its swapgs
    task_layout: TaskLayout | None = None
    tls_span: int = 0
    graph_functions: dict[int, str] = field(default_factory=dict)
    ring: RingLayout | None = None

    def agent_plan(self, *, stop_first_syscall: bool) -> dict[str, Any]:
        return {
            "probes": [p.to_json() for p in self.probes],
            "ptregs_layout": [list(f) for f in self.ptregs_layout],
            "ptregs_size": self.ptregs_size,
            "stop_first_syscall": stop_first_syscall,
            "stop_on_lstar": self.wants_lstar_stop,
            "tls_span": self.tls_span,
            "ring": self.ring.to_json() if self.ring is not None else None,
        }

    def count(self, kind: str) -> int:
        return sum(1 for p in self.probes if p.kind == kind)


def ptregs_layout(image: ElfImage) -> tuple[tuple[tuple[str, int, int], ...], int, bool]:
    """pt_regs from DWARF when the kernel has it, else Linux's layout."""
    layout = struct_layout(image, "pt_regs") if image.has_dwarf else None
    if layout is None:
        return LINUX_PT_REGS, 168, False
    fields = tuple((f.name, f.offset, f.size) for f in layout.fields)
    missing = PT_REGS_NEEDED - {f[0] for f in fields}
    if missing:
        return LINUX_PT_REGS, 168, False
    return fields, layout.size, True


def find_entry(image: ElfImage) -> int | None:
    for name in ENTRY_SYMBOLS:
        sym = image.symbol(name)
        if sym is not None:
            return int(sym.addr)
    return None


def exit_swapgs_for(entry: EntryPath, exit_addr: int) -> int | None:
    """The swapgs that runs just before this exit instruction, if the path has one."""
    before = [a for a in entry.exit_swapgs if a < exit_addr and exit_addr - a <= 64]
    return max(before) if before else None


_REG_OPERAND = re.compile(r"^\s*([a-z0-9]+)\s*$")


def base_write_probes(image: ElfImage) -> list[AgentProbe]:
    probes = []
    for site in scan_sites(image, {"wrfsbase", "wrgsbase"}):
        match = _REG_OPERAND.match(site.text.split(None, 1)[1] if " " in site.text else "")
        extra = (("source", match.group(1)),) if match else ()
        probes.append(AgentProbe(site.addr, site.kind, extra))
    return probes


def build_plan(
    image: ElfImage,
    mode: Mode = Mode.DEFAULT,
    probes: frozenset[str] = ALL_PROBES,
    entry_addr: int | None = None,
    programs: tuple[ElfImage, ...] = (),
) -> ProbePlan:
    """Everything to arm before the guest runs. The entry may be unknown until LSTAR is written."""
    layout, size, from_dwarf = ptregs_layout(image)
    plan = ProbePlan(mode, ptregs_layout=layout, ptregs_size=size, ptregs_from_dwarf=from_dwarf)
    if not from_dwarf:
        plan.notes.append("no struct pt_regs in DWARF: using Linux's x86-64 layout")
    plan.tls_span = tls_span([image, *programs])
    wrmsr_sites = scan_sites(image, {"wrmsr"})
    plan.probes += [AgentProbe(s.addr, "wrmsr") for s in wrmsr_sites]
    if "segbase" in probes:
        plan.probes += base_write_probes(image)
    if "sched" in probes:
        add_switch_probe(plan, image)
    if "irq" in probes:
        add_interrupt_probes(plan, image)
    if "syscall" in probes:
        entry_addr = entry_addr if entry_addr is not None else find_entry(image)
        if entry_addr is None:
            plan.wants_lstar_stop = True
            plan.notes.append("no syscall entry symbol: waiting for the LSTAR write")
        else:
            add_entry(plan, image, entry_addr)
    else:
        add_swapgs_probes(plan, image)
    return plan


def tls_span(images: list[ElfImage]) -> int:
    """How much to read below a TCB to see every thread-local variable (capped at 4 KiB)."""
    span = 0
    for image in images:
        seg = image.tls_segment
        if seg is not None:
            align = max(1, seg.align)
            span = max(span, -(-seg.memsz // align) * align)
    return min(span, 4096)


def add_switch_probe(plan: ProbePlan, image: ElfImage) -> None:
    addr = find_switch(image)
    if addr is None:
        plan.notes.append("no context-switch symbol (__switch_to_asm): switches not traced")
        return
    plan.task_layout = task_layout(image)
    extra: tuple[tuple[str, Any], ...] = ()
    if plan.task_layout is not None:
        extra = (("task_span", plan.task_layout.span),)
    else:
        plan.notes.append("no task struct with a pid in DWARF: switches show task addresses")
    plan.probes.append(AgentProbe(addr, "context_switch", extra))


def add_interrupt_probes(plan: ProbePlan, image: ElfImage) -> None:
    stubs = find_interrupt_stubs(image)
    if not stubs:
        plan.notes.append("no interrupt stubs (asm_exc_*, asm_common_interrupt) found")
    for stub in stubs:
        assert stub.path.dispatch_call is not None
        plan.interrupt_stubs[stub.path.dispatch_call] = stub
        extra: list[tuple[str, Any]] = [
            ("regs_pointer", stub.path.regs_pointer or "rsp"),
            ("stub", stub.name),
            ("has_error_code", stub.has_error_code),
        ]
        if stub.vector is not None:
            extra.append(("vector", stub.vector))
        plan.probes.append(AgentProbe(stub.path.dispatch_call, "interrupt_entry", tuple(extra)))
        _add_exits(plan, stub.path)


def _add_exits(plan: ProbePlan, path: EntryPath) -> None:
    armed = {p.addr for p in plan.probes if p.kind == "syscall_exit"}
    for addr, kind in path.exit_sites:
        swap = exit_swapgs_for(path, addr)
        if swap is not None:
            plan.exit_swapgs[addr] = swap
        if addr not in armed:
            plan.probes.append(AgentProbe(addr, "syscall_exit", (("exit_kind", kind),)))
            armed.add(addr)


def on_path_swapgs(plan: ProbePlan) -> set[int]:
    """swapgs that default mode rebuilds instead of stopping at."""
    sites: set[int] = set()
    if plan.entry is not None:
        sites |= set(plan.entry.swapgs_sites)
    for stub in plan.interrupt_stubs.values():
        sites |= set(stub.path.swapgs_sites)
    return sites


def add_swapgs_probes(plan: ProbePlan, image: ElfImage) -> list[AgentProbe]:
    """swapgs off the rebuilt paths (e.g. the first entry to user mode) is always probed; on
    them only in exhaustive mode."""
    on_path = on_path_swapgs(plan)
    armed = {p.addr for p in plan.probes if p.kind == "swapgs"}
    added = []
    for site in scan_sites(image, {"swapgs"}):
        if site.addr in armed:
            continue
        if plan.mode is Mode.EXHAUSTIVE or site.addr not in on_path:
            added.append(AgentProbe(site.addr, "swapgs"))
    plan.probes += added
    return added


def add_entry(plan: ProbePlan, image: ElfImage, entry_addr: int) -> list[AgentProbe]:
    """Analyse the syscall entry path and add its probes; returns the probes added."""
    entry = analyze_syscall_entry(image, entry_addr)
    if entry.dispatch_call is None:
        raise PlanError(f"no dispatcher call found in the syscall entry at {entry_addr:#x}")
    plan.entry = entry
    before = len(plan.probes)
    plan.probes.append(
        AgentProbe(entry.dispatch_call, "syscall_entry", (("regs_pointer", entry.regs_pointer),))
    )
    _add_exits(plan, entry)
    add_swapgs_probes(plan, image)
    plan.wants_lstar_stop = False
    return plan.probes[before:]


def add_graph_probes(
    plan: ProbePlan, functions: list[GraphFunction], notrace: list[GraphFunction] = ()
) -> None:  # type: ignore[assignment]
    """Breakpoint-mode function graph: entry and every return site of each function; for
    set_graph_notrace functions too, so what runs inside them can be left out."""
    traced = {f.addr for f in [*functions, *notrace]}
    quiet = {f.addr for f in notrace}
    for f in [*functions, *[n for n in notrace if n.addr not in {g.addr for g in functions}]]:
        flag = (("notrace", True),) if f.addr in quiet else ()
        plan.probes.append(AgentProbe(f.addr, "func_entry", (("func", f.addr), *flag)))
        for site in f.returns:
            plan.probes.append(AgentProbe(site, "func_exit", (("func", f.addr), ("how", "ret"))))
        # A tail call into a traced function returns through that function's `ret`, as
        # ftrace's return hook sees it; into anything else, the jump is this one's exit.
        # A notrace function's tail callee still runs inside it (ftrace's hook sees it so).
        for site, target in f.tail_calls if f.addr not in quiet else ():
            if target not in traced:
                plan.probes.append(
                    AgentProbe(site, "func_exit", (("func", f.addr), ("how", "tail")))
                )
    plan.graph_functions = {f.addr: f.name for f in functions}


def add_ring_probe(plan: ProbePlan, ring: RingLayout) -> None:
    """Ring-buffer function graph: drained at syscall stops and when the guest says it is full."""
    plan.ring = ring
    if ring.buffer_full is not None:
        plan.probes.append(AgentProbe(ring.buffer_full, "ftrace_full"))
