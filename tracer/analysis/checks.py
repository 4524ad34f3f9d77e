"""Invariant checks over a trace: pure, events in, findings out.

The rules (see issue 4): kernel code running on an app TCB where the kernel uses FS; GS base
not the per-CPU area in ring 0 or still it in ring 3; pt_regs disagreeing with what SYSCALL
put in the registers; sysret to a non-canonical RIP; STAR selectors that do not match the GDT;
FMASK not clearing IF/TF/DF/AC; a segment-base change nobody explains.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tracer.analysis.gdt import descriptor_at
from tracer.analysis.tls import OwnerKind, TlsOwners, owner_kind
from tracer.decode.msr import MSR_FMASK, MSR_STAR, RFLAGS_MASKS
from tracer.events import (
    Event,
    Interrupt,
    MsrRead,
    MsrWrite,
    SegBaseChange,
    SegBases,
    SegCause,
    Symbolizer,
    SyscallEntry,
    SyscallExit,
)

FMASK_REQUIRED = {name: RFLAGS_MASKS[name] for name in ("IF", "TF", "DF", "AC")}


@dataclass(frozen=True, slots=True)
class Finding:
    seq: int
    rule: str
    message: str
    cpu: int | None = None
    pid: int | None = None
    pc: int | None = None
    function: str | None = None

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class KernelFacts:
    """What the kernel image says, gathered by the caller (the checker itself reads no files).

    `uses_fs`: kernel code reads thread-locals through FS (it has TLS symbols or %fs: accesses).
    `fs_functions`: functions with %fs:-relative accesses, to name the first one reached.
    `gdt`: the GDT's bytes as read from the guest, when the capture could read them.
    `uses_fs_always`: skip the runtime evidence (a kernel TCB seen in FS) that the code that
    touches %fs: is the code that runs; a kernel built for several schemes needs it.
    """

    uses_fs: bool = False
    fs_functions: frozenset[str] = frozenset()
    gdt: bytes | None = None
    uses_fs_always: bool = False


def canonical(addr: int) -> bool:
    top = addr >> 47
    return top == 0 or top == (1 << 17) - 1


@dataclass
class _State:
    bases: dict[int, SegBases] = field(default_factory=dict)
    star: int | None = None
    fmask: int | None = None
    reported: set[str] = field(default_factory=set)


class Checker:
    def __init__(self, facts: KernelFacts, symbolize: Symbolizer | None = None) -> None:
        self.facts = facts
        self.symbolize = symbolize
        self.owners = TlsOwners(symbolize=symbolize)
        self.state = _State()

    def _finding(self, event: Event, rule: str, message: str, pc: int | None = None) -> Finding:
        pc = pc if pc is not None else getattr(event, "pc", None)
        function = self.symbolize(pc) if (self.symbolize and pc is not None) else None
        return Finding(
            event.seq,
            rule,
            message,
            getattr(event, "cpu", None),
            getattr(event, "pid", None),
            pc,
            function,
        )

    def check(self, events: Iterable[Event]) -> Iterator[Finding]:
        for event in events:
            yield from self._check_one(event)
            self.owners.learn(event)
            self._track(event)

    def _kernel_uses_fs(self) -> bool:
        """A kernel with %fs: accesses uses FS for its own thread-locals when it runs on a
        kernel TCB at all: once FS has held a kernel-half address, or from the start when
        the facts say so without that evidence (facts.uses_fs_always)."""
        if not self.facts.uses_fs:
            return False
        if self.facts.uses_fs_always:
            return True
        return any(
            owner_kind(label) == OwnerKind.KERNEL_TCB for label in self.owners.labels.values()
        )

    def _track(self, event: Event) -> None:
        if isinstance(event, SyscallEntry | SyscallExit):
            self.state.bases[event.cpu] = event.bases
        elif isinstance(event, SegBaseChange):
            last = self.state.bases.get(event.cpu, SegBases(0, 0, 0))
            values = {"fs": last.fs_base, "gs": last.gs_base, "kgs": last.kernel_gs_base}
            values[event.which] = event.new
            self.state.bases[event.cpu] = SegBases(values["fs"], values["gs"], values["kgs"])

    def _check_one(self, event: Event) -> Iterator[Finding]:
        if isinstance(event, SyscallEntry):
            yield from self._kernel_side(event, event.bases, "syscall entry")
            yield from self._pt_regs(event)
        elif isinstance(event, SyscallExit):
            yield from self._user_side(event)
        elif isinstance(event, Interrupt) and event.action == "entry":
            bases = self.state.bases.get(event.cpu)
            if bases is not None:
                yield from self._kernel_side(event, bases, f"{event.name} entry", gs=False)
        elif isinstance(event, SegBaseChange) and event.cause is SegCause.UNKNOWN:
            yield self._finding(
                event,
                "unknown-base-change",
                f"{event.which.upper()} base {event.old:#x} -> {event.new:#x} with no known cause",
            )
        elif isinstance(event, MsrWrite | MsrRead):
            yield from self._msr(event)

    def _kernel_side(
        self, event: Event, bases: SegBases, where: str, gs: bool = True
    ) -> Iterator[Finding]:
        fs_owner = self.owners.owner(bases.fs_base, "fs", getattr(event, "pid", None))
        if self._kernel_uses_fs() and owner_kind(fs_owner) == OwnerKind.APP_TCB:
            target = ""
            if isinstance(event, SyscallEntry) and self.symbolize:
                target = _first_fs_user(event, self.facts, self.symbolize)
            yield self._finding(
                event,
                "kernel-on-app-tcb",
                f"kernel code at {where} runs with FS = {fs_owner} ({bases.fs_base:#x}){target}",
            )
        if gs:
            gs_owner = self.owners.owner(bases.gs_base, "gs", getattr(event, "pid", None))
            if owner_kind(gs_owner) != OwnerKind.PERCPU:
                yield self._finding(
                    event,
                    "gs-not-percpu-in-kernel",
                    f"ring 0 at {where} with GS base {bases.gs_base:#x} "
                    f"({gs_owner}), not the per-CPU area: swapgs missing?",
                )
            elif (owner_cpu := percpu_cpu(gs_owner)) not in (None, getattr(event, "cpu", None)):
                yield self._finding(
                    event,
                    "gs-other-cpu-percpu",
                    f"cpu{getattr(event, 'cpu', '?')} in ring 0 at {where} runs on "
                    f"cpu{owner_cpu}'s per-CPU area ({bases.gs_base:#x}): stale GS base",
                )

    def _user_side(self, event: SyscallExit) -> Iterator[Finding]:
        gs_owner = self.owners.owner(event.bases.gs_base, "gs", event.pid)
        if owner_kind(gs_owner) == OwnerKind.PERCPU:
            yield self._finding(
                event,
                "gs-percpu-in-user",
                f"returning to ring 3 with GS base still the per-CPU area "
                f"({event.bases.gs_base:#x}): swapgs missing or doubled",
            )
        if not canonical(event.user_rip):
            yield self._finding(
                event, "sysret-noncanonical", f"return to non-canonical RIP {event.user_rip:#x}"
            )

    def _pt_regs(self, event: SyscallEntry) -> Iterator[Finding]:
        regs = dict(event.regs)
        if not regs:
            return
        problems = []
        if "cx" in regs and regs.get("ip") != regs["cx"]:
            problems.append(f"ip {regs.get('ip', 0):#x} != RCX {regs['cx']:#x}")
        if "r11" in regs and regs.get("flags") != regs["r11"]:
            problems.append(f"flags {regs.get('flags', 0):#x} != R11 {regs['r11']:#x}")
        if not canonical(regs.get("ip", 0)) or regs.get("ip", 0) >> 47:
            problems.append(f"ip {regs.get('ip', 0):#x} is not a user address")
        if regs.get("sp", 0) >> 47:
            problems.append(f"sp {regs.get('sp', 0):#x} is not a user stack address")
        if (regs.get("cs", 3) & 3) != 3:
            problems.append(f"cs {regs.get('cs', 0):#x} is not a ring-3 selector")
        if problems:
            yield self._finding(event, "pt-regs-mismatch", "; ".join(problems))

    def _msr(self, event: MsrWrite | MsrRead) -> Iterator[Finding]:
        value = event.new if isinstance(event, MsrWrite) else event.value
        if event.msr == MSR_FMASK:
            missing = [name for name, bit in FMASK_REQUIRED.items() if not value & bit]
            if missing:
                yield self._finding(
                    event,
                    "fmask-incomplete",
                    f"FMASK {value:#x} does not clear {'|'.join(missing)}",
                )
        elif event.msr == MSR_STAR and self.facts.gdt is not None:
            for problem in star_problems(value, self.facts.gdt):
                yield self._finding(event, "star-gdt-mismatch", problem)


def percpu_cpu(label: str) -> int | None:
    """The CPU a `percpu[cpuN]` owner label names (None for any other label)."""
    prefix = f"{OwnerKind.PERCPU}[cpu"
    if label.startswith(prefix) and label.endswith("]") and label[len(prefix) : -1].isdigit():
        return int(label[len(prefix) : -1])
    return None


def star_problems(star: int, gdt: bytes) -> list[str]:
    """STAR's selectors against the GDT: SYSCALL CS/SS at 47:32, SYSRET's base at 63:48."""
    kernel_cs = (star >> 32) & 0xFFFC
    user_base = (star >> 48) & 0xFFFC
    wants = [
        (kernel_cs, "kernel CS", True, 0),
        (kernel_cs + 8, "kernel SS", False, 0),
        (user_base + 16, "user CS (64-bit)", True, 3),
        (user_base + 8, "user SS", False, 3),
    ]
    problems = []
    for selector, what, code, dpl in wants:
        desc = descriptor_at(gdt, selector)
        if desc is None:
            problems.append(f"STAR {what} selector {selector:#x} is outside the GDT")
        elif (
            not desc.present
            or desc.is_code != code
            or desc.dpl != dpl
            or (code and not desc.long_mode)
        ):
            problems.append(f"STAR {what} selector {selector:#x} is {desc.describe()}")
    return problems


def _first_fs_user(event: SyscallEntry, facts: KernelFacts, symbolize: Symbolizer) -> str:
    name = symbolize(event.pc) or ""
    if facts.fs_functions:
        return f"; next kernel TLS access in {', '.join(sorted(facts.fs_functions)[:3])}"
    return f" ({name})" if name else ""


def run_checks(
    events: Iterable[Event], facts: KernelFacts, symbolize: Symbolizer | None = None
) -> list[Finding]:
    return list(Checker(facts, symbolize).check(events))
