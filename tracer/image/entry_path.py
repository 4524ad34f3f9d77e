"""The syscall entry path, read from code laid out like Linux's entry_SYSCALL_64.

From the entry address the walk follows fall-through and direct jumps (both ways at a
conditional jump, across function boundaries), steps over calls, and ends at anything that
leaves: ret, sysret, iret, sysexit, ud2, hlt, int3, an indirect jump or a return thunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple, TypeAlias

import capstone
from capstone import x86_const as x86

from .disasm import Insn, new_capstone
from .elf import ElfImage
from .errors import ImageError

ExitKind: TypeAlias = Literal["sysretq", "iretq", "sysexit"]
RegsPointer: TypeAlias = Literal["rdi", "rsp"]

_EXIT_KINDS: dict[str, ExitKind] = {
    "sysretq": "sysretq", "sysret": "sysretq", "iretq": "iretq", "iretd": "iretq",
    "iret": "iretq", "sysexit": "sysexit", "sysexitq": "sysexit",
}  # fmt: skip
_ENDS_PATH = {"ret", "retf", "retfq", "ud0", "ud1", "ud2", "hlt", "int3", *_EXIT_KINDS}
_MAX_PATH_INSNS = 4096


class ExitSite(NamedTuple):
    addr: int
    kind: ExitKind


@dataclass(frozen=True, slots=True)
class GsSlot:
    """An instruction that moves RSP to or from a %gs-relative per-CPU slot."""

    addr: int
    gs_offset: int
    text: str


@dataclass(frozen=True, slots=True)
class Block:
    """A run of consecutive instructions on the path, for display."""

    start: int
    function: str | None  # symbolized start: "common_exception_return+0xa"
    label: str | None  # a symbol exactly at the start: "swapgs_restore_regs_and_return_to_..."
    insns: tuple[Insn, ...]


@dataclass(frozen=True)
class EntryPath:
    entry: int
    entry_swapgs: tuple[int, ...]  # before the dispatcher call, in path order
    exit_swapgs: tuple[int, ...]  # reachable after it, in path order
    dispatch_call: int | None  # the call to the C dispatcher: pt_regs is complete here
    dispatcher: int | None  # its target
    dispatcher_name: str | None
    regs_pointer: RegsPointer | None  # which register holds &pt_regs at the dispatch call
    exit_sites: tuple[ExitSite, ...]  # sysret/iret/sysexit reachable after the dispatch call
    user_rsp_save: GsSlot | None  # mov %rsp, %gs:slot
    kernel_stack_load: GsSlot | None  # mov %gs:slot, %rsp
    pushes: tuple[int, ...]  # the pushes that build pt_regs, in order
    blocks: tuple[Block, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def swapgs_sites(self) -> tuple[int, ...]:
        return self.entry_swapgs + self.exit_swapgs

    @property
    def instructions(self) -> tuple[Insn, ...]:
        return tuple(insn for block in self.blocks for insn in block.insns)


def _direct_target(insn: capstone.CsInsn) -> int | None:
    if len(insn.operands) == 1 and insn.operands[0].type == x86.X86_OP_IMM:
        return int(insn.operands[0].imm) & 0xFFFFFFFFFFFFFFFF
    return None


def _is_jump(insn: capstone.CsInsn) -> bool:
    return insn.group(capstone.CS_GRP_JUMP)


class _Walker:
    """Decodes and explores code from the image, one instruction at a time."""

    def __init__(self, image: ElfImage) -> None:
        self.image = image
        self.md = new_capstone(detail=True)
        self.decoded: dict[int, capstone.CsInsn | None] = {}
        self.notes: list[str] = []

    def decode(self, addr: int) -> capstone.CsInsn | None:
        if addr not in self.decoded:
            code = self.image.read_upto(addr, 16)
            self.decoded[addr] = next(self.md.disasm(code, addr, 1), None) if code else None
        return self.decoded[addr]

    def where(self, addr: int) -> str:
        return self.image.symbolize(addr) or f"{addr:#x}"

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _next(self, insn: capstone.CsInsn, pending: list[int]) -> int | None:
        """Where straight-line exploration goes after `insn` (None: the path ends here)."""
        if insn.mnemonic in _ENDS_PATH:
            return None
        if not _is_jump(insn):
            return insn.address + insn.size
        target = _direct_target(insn)
        if target is None:
            text = f"{insn.mnemonic} {insn.op_str}"
            self.note(f"path ends at an indirect jump: {self.where(insn.address)}: {text}")
            return None
        if insn.mnemonic != "jmp":
            pending.append(target)
            return insn.address + insn.size
        name = self.image.symbolize(target) or ""
        if "return_thunk" in name or "indirect_thunk" in name:
            self.note(f"path ends through {name} at {self.where(insn.address)}")
            return None
        return target

    def walk(self, start: int, stop_at: int | None = None) -> list[capstone.CsInsn]:
        """Instructions reachable from `start` in path order (fall-through first, depth first),
        not going through the instruction at `stop_at`."""
        order: list[capstone.CsInsn] = []
        seen: set[int] = set()
        pending = [start]
        while pending:
            addr: int | None = pending.pop()
            while addr is not None and addr not in seen and addr != stop_at:
                if len(order) >= _MAX_PATH_INSNS:
                    self.note(f"path cut after {_MAX_PATH_INSNS} instructions")
                    return order
                insn = self.decode(addr)
                if insn is None:
                    self.note(f"path runs out of code at {self.where(addr)}")
                    break
                seen.add(addr)
                order.append(insn)
                addr = self._next(insn, pending)
        return order


def _push_runs(order: list[capstone.CsInsn]) -> list[list[capstone.CsInsn]]:
    """Pushes grouped into runs that no pop, call, return or stack adjustment interrupts."""
    runs: list[list[capstone.CsInsn]] = [[]]
    for insn in order:
        if insn.mnemonic == "push":
            runs[-1].append(insn)
        elif insn.mnemonic in ("pop", "call", "ret", "leave") or _writes_rsp(insn):
            if runs[-1]:
                runs.append([])
    return [run for run in runs if run]


def _writes_rsp(insn: capstone.CsInsn) -> bool:
    """An explicit stack-pointer change (push's own implicit one does not count)."""
    if insn.mnemonic == "push":
        return False
    _, written = insn.regs_access()
    return x86.X86_REG_RSP in written


def _longest(runs: list[list[capstone.CsInsn]]) -> list[capstone.CsInsn]:
    return max(runs, key=len, default=[])


def _gs_slot(insn: capstone.CsInsn, mem_index: int) -> int | None:
    """The %gs offset of operand `mem_index` when it is a plain (or RIP-relative) gs: slot."""
    mem_op = insn.operands[mem_index]
    if mem_op.type != x86.X86_OP_MEM or mem_op.mem.segment != x86.X86_REG_GS:
        return None
    mem = mem_op.mem
    if mem.index != 0:
        return None
    if mem.base == 0:
        return int(mem.disp) & 0xFFFFFFFFFFFFFFFF
    if mem.base == x86.X86_REG_RIP:
        return (insn.address + insn.size + int(mem.disp)) & 0xFFFFFFFFFFFFFFFF
    return None


def _find_rsp_slot(order: list[capstone.CsInsn], *, store: bool) -> GsSlot | None:
    """`mov %rsp, %gs:slot` (store) or `mov %gs:slot, %rsp` (load) on the path."""
    reg_index, mem_index = (1, 0) if store else (0, 1)
    for insn in order:
        if insn.mnemonic != "mov" or len(insn.operands) != 2:
            continue
        reg = insn.operands[reg_index]
        if reg.type != x86.X86_OP_REG or reg.reg != x86.X86_REG_RSP:
            continue
        offset = _gs_slot(insn, mem_index)
        if offset is not None:
            return GsSlot(insn.address, offset, f"{insn.mnemonic} {insn.op_str}")
    return None


def _direct_calls(order: list[capstone.CsInsn]) -> list[tuple[capstone.CsInsn, int]]:
    calls = []
    for insn in order:
        target = _direct_target(insn) if insn.mnemonic == "call" else None
        if target is not None:
            calls.append((insn, target))
    return calls


def _choose_dispatch(
    image: ElfImage, order: list[capstone.CsInsn], entry: int
) -> tuple[capstone.CsInsn, int] | None:
    """The call to the C dispatcher: after the register-save pushes, preferring a target
    named like a syscall handler (do_syscall_64), then a call handed pt_regs in RDI, else the
    first such call."""
    calls = [(insn, t) for insn, t in _direct_calls(order) if t != entry]
    run = _longest(_push_runs(order))
    position = {insn.address: i for i, insn in enumerate(order)}
    start = 0
    if run:
        start = position[run[-1].address]
        after = [(insn, t) for insn, t in calls if position[insn.address] > start]
        calls = after or calls
    # A call some conditional jump can skip (`cmpb $0, flag; je 1f; call hook; 1:`) is an
    # optional hook, not the handler every entry reaches.
    always = [(insn, t) for insn, t in calls if not _skippable(order, position, start, insn)]
    calls = always or calls
    for insn, target in calls:
        if "syscall" in (image.symbolize(target) or "").lower():
            return insn, target
    # Linux's interrupt stubs call error_entry first (it pushes pt_regs and returns the stack
    # to switch to), then the handler with `mov rdi, rsp`: the call handed pt_regs is the one.
    handed = [(insn, t) for insn, t in calls if _passes_regs(order, insn)]
    calls = handed or calls
    return calls[0] if calls else None


def _skippable(
    order: list[capstone.CsInsn], position: dict[int, int], start: int, call: capstone.CsInsn
) -> bool:
    here = position[call.address]
    for insn in order[start:here]:
        if not _is_jump(insn) or insn.mnemonic == "jmp":
            continue
        target = _direct_target(insn)
        if target is not None and target > call.address and position.get(target, -1) > here:
            return True
    return False


_RDI_REGS = {x86.X86_REG_RDI, x86.X86_REG_EDI, x86.X86_REG_DI, x86.X86_REG_DIL}


def _is_rsp_copy(insn: capstone.CsInsn) -> bool:
    """`mov rdi, rsp`, or `lea rdi, [rsp]`."""
    if len(insn.operands) != 2:
        return False
    src = insn.operands[1]
    if insn.mnemonic == "mov":
        return bool(src.type == x86.X86_OP_REG and src.reg == x86.X86_REG_RSP)
    if insn.mnemonic == "lea":
        mem = src.mem
        return bool(mem.base == x86.X86_REG_RSP and mem.index == 0 and mem.disp == 0)
    return False


def _rdi_write(order: list[capstone.CsInsn], call: int) -> capstone.CsInsn | None:
    """The last instruction writing RDI that falls through to the call, if the path shows one."""
    by_end = {
        insn.address + insn.size: insn
        for insn in order
        if not _is_jump(insn) and insn.mnemonic not in _ENDS_PATH
    }
    addr = call
    for _ in range(_MAX_PATH_INSNS):
        prev = by_end.get(addr)
        if prev is None:
            return None
        _, written = prev.regs_access()
        if _RDI_REGS & set(written):
            return prev
        addr = prev.address
    return None


def _passes_regs(order: list[capstone.CsInsn], call: capstone.CsInsn) -> bool:
    """The call gets RSP (pt_regs) as its first argument."""
    prev = _rdi_write(order, call.address)
    return prev is not None and _is_rsp_copy(prev)


def _regs_pointer(walker: _Walker, entry_part: list[capstone.CsInsn], call: int) -> RegsPointer:
    """ "rdi" when the last write to RDI falling through to the call copies RSP, else "rsp"."""
    prev = _rdi_write(entry_part, call)
    if prev is None:
        return "rsp"
    if _is_rsp_copy(prev):
        return "rdi"
    text = f"{prev.mnemonic} {prev.op_str}"
    walker.note(f"RDI is set by `{text}` before the dispatch call; pt_regs taken at RSP")
    return "rsp"


def _to_insn(insn: capstone.CsInsn) -> Insn:
    return Insn(insn.address, insn.size, insn.mnemonic, insn.op_str, bytes(insn.bytes))


def _blocks(image: ElfImage, order: list[capstone.CsInsn]) -> tuple[Block, ...]:
    runs: list[list[capstone.CsInsn]] = []
    for insn in order:
        if runs and runs[-1][-1].address + runs[-1][-1].size == insn.address:
            runs[-1].append(insn)
        else:
            runs.append([insn])
    return tuple(
        Block(
            run[0].address,
            image.symbolize(run[0].address),
            image.label_at(run[0].address),
            tuple(map(_to_insn, run)),
        )
        for run in runs
    )


def _addresses(order: list[capstone.CsInsn], mnemonic: str) -> tuple[int, ...]:
    return tuple(insn.address for insn in order if insn.mnemonic == mnemonic)


def analyze_syscall_entry(image: ElfImage, entry_addr: int) -> EntryPath:
    """Read the syscall entry path starting at `entry_addr` (LSTAR's value, or a symbol's)."""
    walker = _Walker(image)
    if walker.decode(entry_addr) is None:
        raise ImageError(image.path, f"syscall entry {entry_addr:#x} is not in the file's code")
    full = walker.walk(entry_addr)
    chosen = _choose_dispatch(image, full, entry_addr)
    if chosen is None:
        walker.note("no direct call on the entry path: no dispatcher found")
        entry_part, exit_part = full, []
    else:
        call = chosen[0]
        entry_part = walker.walk(entry_addr, stop_at=call.address)
        exit_part = walker.walk(call.address + call.size)
    entry_swapgs, exit_swapgs = _addresses(entry_part, "swapgs"), _addresses(exit_part, "swapgs")
    if set(entry_swapgs) & set(exit_swapgs):
        walker.note("a swapgs is reachable both before and after the dispatch call")
    if not entry_swapgs:
        walker.note("no swapgs before the dispatch call")
    return EntryPath(
        entry=entry_addr,
        entry_swapgs=entry_swapgs,
        exit_swapgs=exit_swapgs,
        dispatch_call=chosen[0].address if chosen else None,
        dispatcher=chosen[1] if chosen else None,
        dispatcher_name=image.symbolize(chosen[1]) if chosen else None,
        regs_pointer=_regs_pointer(walker, entry_part, chosen[0].address) if chosen else None,
        exit_sites=tuple(
            ExitSite(insn.address, _EXIT_KINDS[insn.mnemonic])
            for insn in exit_part
            if insn.mnemonic in _EXIT_KINDS
        ),
        user_rsp_save=_find_rsp_slot(entry_part, store=True),
        kernel_stack_load=_find_rsp_slot(entry_part, store=False),
        pushes=tuple(insn.address for insn in _longest(_push_runs(entry_part))),
        blocks=_blocks(image, full),
        notes=tuple(walker.notes),
    )
