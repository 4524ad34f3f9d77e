"""Where a syscall's way out through iretq starts, read from the code after the dispatch call.

When sysret cannot be used (a new program's registers after execve, a context restored by
rt_sigreturn, a signal frame), the path branches to an iret route. Linux's route copies the
iret frame to a per-CPU trampoline stack before its iretq, and that iretq also returns every
interrupt, to kernel or user mode: at the iretq nothing says which frame is leaving. The
route's first instruction still has RSP at the syscall's pt_regs, and only returns to user
mode pass it (interrupts and exceptions from user mode too, and a new task's first return).
"""

from __future__ import annotations

from dataclasses import dataclass

import capstone
from capstone import x86_const as x86

from .elf import ElfImage
from .entry_path import (
    _ENDS_PATH,
    _EXIT_KINDS,
    _MAX_PATH_INSNS,
    EntryPath,
    _direct_target,
    _is_jump,
    _Walker,
    _writes_rsp,
)


@dataclass(frozen=True, slots=True)
class IretRoute:
    start: int  # a branch target on the syscall's way out: RSP is the pt_regs pointer here
    iret: int  # the iretq the route reaches
    moves_frame: bool  # RSP is loaded on the way (a stack switch): at the iretq it is elsewhere


def find_iret_routes(image: ElfImage, path: EntryPath) -> tuple[IretRoute, ...]:
    """Each branch from the code after the dispatch call (while RSP is still where pt_regs
    is) to code that leaves only through iretq."""
    if path.dispatch_call is None or path.regs_pointer is None:
        return ()
    walker = _Walker(image)
    call = walker.decode(path.dispatch_call)
    if call is None:
        return ()
    routes: list[IretRoute] = []
    for target in _branches_at_frame(walker, call.address + call.size):
        reached = walker.walk(target)
        exits = [insn for insn in reached if insn.mnemonic in _EXIT_KINDS]
        if not exits or any(_EXIT_KINDS[insn.mnemonic] != "iretq" for insn in exits):
            continue
        if any(route.start == target for route in routes):
            continue
        moves = any(_loads_rsp(insn) for insn in reached)
        routes.append(IretRoute(target, exits[0].address, moves))
    return tuple(routes)


def _branches_at_frame(walker: _Walker, start: int) -> list[int]:
    """Targets of the conditional jumps on the straight way from `start` (fall-through and
    direct jmp), up to the first instruction that moves RSP (a call returns it as it was)."""
    targets: list[int] = []
    addr: int | None = start
    seen: set[int] = set()
    while addr is not None and addr not in seen and len(seen) < _MAX_PATH_INSNS:
        seen.add(addr)
        insn = walker.decode(addr)
        if insn is None or insn.mnemonic in _ENDS_PATH:
            break
        if insn.mnemonic != "call" and (insn.mnemonic in ("push", "pop") or _writes_rsp(insn)):
            break
        addr = _follow(insn, targets)
    return targets


def _follow(insn: capstone.CsInsn, targets: list[int]) -> int | None:
    if not _is_jump(insn):
        return insn.address + insn.size
    target = _direct_target(insn)
    if target is None:
        return None
    if insn.mnemonic == "jmp":
        return target
    targets.append(target)
    return insn.address + insn.size


def _loads_rsp(insn: capstone.CsInsn) -> bool:
    """`mov rsp, ...`: a switch to another stack (pops and adds only unwind the frame)."""
    if insn.mnemonic != "mov" or len(insn.operands) != 2:
        return False
    dest = insn.operands[0]
    return bool(dest.type == x86.X86_OP_REG and dest.reg == x86.X86_REG_RSP)
