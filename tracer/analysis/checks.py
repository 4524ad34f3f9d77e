"""Invariant checks over a trace: pure, events in, findings out.

The rules (see issue 4): kernel code running on an app TCB where the kernel uses FS; GS base
not the per-CPU area in ring 0 or still it in ring 3; pt_regs disagreeing with what SYSCALL
put in the registers; sysret to a non-canonical RIP; STAR selectors that do not match the GDT;
FMASK not clearing IF/TF/DF/AC; a segment-base change nobody explains.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tracer.analysis.gdt import descriptor_at
from tracer.analysis.rules import (
    FMASK_REQUIRED,
    GS_NOT_PERCPU,
    KERNEL_ON_APP_TCB,
    STAR_GDT_MISMATCH,
    RawFinding,
    TraceRules,
    canonical,
    percpu_cpu,
)
from tracer.decode.x86 import KERNEL_HALF
from tracer.events import Event, Symbolizer
from tracer.tls_owners import OwnerKind

__all__ = [
    "FMASK_REQUIRED",
    "Checker",
    "Finding",
    "KernelFacts",
    "RawFinding",
    "canonical",
    "percpu_cpu",
    "render",
    "run_checks",
    "star_problems",
]


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


def render(
    raw: RawFinding, facts: KernelFacts, symbolize: Symbolizer | None = None
) -> list[Finding]:
    """The findings a rule's evidence makes with this kernel's facts (none, one, or one per
    STAR selector problem)."""
    data = raw.data
    if raw.rule == KERNEL_ON_APP_TCB:
        # A kernel with %fs: accesses uses FS for its own thread-locals when it runs on a
        # kernel TCB at all: once FS has held a kernel-half address, or from the start when
        # the facts say so without that evidence (facts.uses_fs_always).
        if not facts.uses_fs or not (facts.uses_fs_always or data["evidence"]):
            return []
        target = ""
        if data["entry"] and symbolize and raw.pc is not None:
            target = _first_fs_user(raw.pc, facts, symbolize)
        messages = [
            f"kernel code at {data['where']} runs with FS = {data['owner']} "
            f"({data['fs']:#x}){target}"
        ]
    elif raw.rule == GS_NOT_PERCPU:
        owner, gs = data["owner"], data["gs"]
        if owner == OwnerKind.UNKNOWN and gs >= KERNEL_HALF and symbolize is not None:
            name = symbolize(gs)
            owner = f"kernel[{name}]" if name else owner
        messages = [
            f"ring 0 at {data['where']} with GS base {gs:#x} "
            f"({owner}), not the per-CPU area: swapgs missing?"
        ]
    elif raw.rule == STAR_GDT_MISMATCH:
        messages = [] if facts.gdt is None else star_problems(data["star"], facts.gdt)
    else:
        messages = [data["message"]]
    if not messages:
        return []  # nothing to name: the kernel's symbols may not even be loaded yet
    pc = raw.pc
    function = symbolize(pc) if (symbolize and pc is not None) else None
    return [Finding(raw.seq, raw.rule, text, raw.cpu, raw.pid, pc, function) for text in messages]


class Checker:
    """`TraceRules` and `render` in one pass: events in, findings out."""

    def __init__(self, facts: KernelFacts, symbolize: Symbolizer | None = None) -> None:
        self.facts = facts
        self.symbolize = symbolize
        self.rules = TraceRules()

    def check(self, events: Iterable[Event]) -> Iterator[Finding]:
        for raw in self.rules.scan(events):
            yield from render(raw, self.facts, self.symbolize)


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


def _first_fs_user(pc: int, facts: KernelFacts, symbolize: Symbolizer) -> str:
    name = symbolize(pc) or ""
    if facts.fs_functions:
        return f"; next kernel TLS access in {', '.join(sorted(facts.fs_functions)[:3])}"
    return f" ({name})" if name else ""


def run_checks(
    events: Iterable[Event], facts: KernelFacts, symbolize: Symbolizer | None = None
) -> list[Finding]:
    return list(Checker(facts, symbolize).check(events))
