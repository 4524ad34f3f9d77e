"""The entry-path tab: the syscall entry stub as capstone reads it, with what the tracer knows
about each instruction (probe sites, swapgs, the pushes that build pt_regs, the per-CPU RSP
slots, the exits) and the instruction the selected event stopped at."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tracer.events import Symbolizer
from tracer.image import EntryPath


@dataclass(frozen=True, slots=True)
class EntryLine:
    addr: int | None  # None for a label line
    text: str
    marks: tuple[str, ...] = ()
    style: str = "insn"  # label, insn, swapgs, probe, push, exit, gs
    here: bool = False


def push_fields(path: EntryPath, fields: Sequence[str]) -> dict[int, str]:
    """Which pt_regs field each push fills: pushes go from the top of the struct (ss) down."""
    return {addr: fields[-(i + 1)] for i, addr in enumerate(path.pushes) if i < len(fields)}


def _with_target(text: str, mnemonic: str, symbolize: Symbolizer | None) -> str:
    """`call 0xffffffff8010e300 <do_syscall_64>`: name a direct call or jump target."""
    if symbolize is None or not (mnemonic == "call" or mnemonic.startswith("j")):
        return text
    operand = text.split(None, 1)[1] if " " in text else ""
    try:
        target = int(operand, 16)
    except ValueError:
        return text
    name = symbolize(target)
    return f"{text} <{name}>" if name else text


def watched_sites(meta: dict[str, str]) -> frozenset[int]:
    """The sites a capture took syscalls at by watchpoints (its meta, `capture.run`): the
    dispatcher call and the instruction after each way out's first pop; none before them."""
    words = [meta.get("watch_call", ""), *meta.get("watch_exits", "").split()]
    try:
        return frozenset(int(word, 16) for word in words if word)
    except ValueError:
        return frozenset()


def entry_lines(
    path: EntryPath,
    fields: Sequence[str],
    pc: int | None = None,
    symbolize: Symbolizer | None = None,
    watched: frozenset[int] = frozenset(),
) -> list[EntryLine]:
    """`watched`: where the capture took syscalls by watchpoints (`watched_sites`)."""
    pushed = push_fields(path, fields)
    exits = dict(path.exit_sites)
    entry_swapgs = set(path.entry_swapgs)
    exit_swapgs = set(path.exit_swapgs)
    lines: list[EntryLine] = []
    for block in path.blocks:
        title = block.label or block.function or f"{block.start:#x}"
        lines.append(EntryLine(None, f"{title}:", style="label"))
        for insn in block.insns:
            marks: list[str] = []
            style = "insn"
            if insn.addr in entry_swapgs:
                marks.append("swapgs: GS base <-> KERNEL_GS_BASE (entry)")
                style = "swapgs"
            elif insn.addr in exit_swapgs:
                marks.append("swapgs: back to the user GS base (exit)")
                style = "swapgs"
            if path.user_rsp_save and insn.addr == path.user_rsp_save.addr:
                marks.append(f"user RSP saved in per-CPU gs:{path.user_rsp_save.gs_offset:#x}")
                style = "gs"
            if path.kernel_stack_load and insn.addr == path.kernel_stack_load.addr:
                marks.append(f"kernel stack from gs:{path.kernel_stack_load.gs_offset:#x}")
                style = "gs"
            if insn.addr in pushed:
                marks.append(f"pt_regs.{pushed[insn.addr]}")
                style = "push"
            if insn.addr == path.dispatch_call:
                marks.append(
                    f"PROBE syscall entry: pt_regs complete, {path.regs_pointer} = &pt_regs"
                )
                style = "probe"
            if insn.addr == path.dispatch_call and insn.addr in watched:
                marks.insert(0, "WATCH its return address (stops in the dispatcher)")
            elif insn.addr in watched:
                first = f"pt_regs.{fields[0]}" if fields else "pt_regs' first word"
                marks.append(f"WATCH syscall exit: the pop before read {first}")
                style = "exit"
            if insn.addr in exits:
                sysret = exits[insn.addr] == "sysretq"
                waits = " (waits unarmed: exits are watched)" if watched and sysret else ""
                marks.append(f"PROBE syscall exit ({exits[insn.addr]}){waits}")
                style = "exit"
            text = _with_target(insn.text, insn.mnemonic, symbolize)
            lines.append(EntryLine(insn.addr, text, tuple(marks), style, insn.addr == pc))
    return lines


def here_line(lines: Sequence[EntryLine]) -> int | None:
    return next((i for i, line in enumerate(lines) if line.here), None)


def path_summary(path: EntryPath, fields: Sequence[str], symbolize: object = None) -> list[str]:
    """A few lines above the listing: entry, dispatcher, counts."""
    exits = ", ".join(kind for _, kind in path.exit_sites) or "none found"
    out = [
        f"{len(path.instructions)} insns; {len(path.pushes)} pushes build pt_regs; "
        f"swapgs {len(path.entry_swapgs)} in, {len(path.exit_swapgs)} out; exits: {exits}",
    ]
    out.extend(path.notes)
    return out
