"""Names and one-line texts for call-tree nodes, shared by the ftrace text and the exporters."""

from __future__ import annotations

from tracer.analysis.callgraph import CallNode, Ending, NodeKind
from tracer.decode.msr import describe_msr, msr_name
from tracer.decode.strace import format_args, format_return, format_syscall
from tracer.decode.syscall_table import syscall_name, syscall_number
from tracer.decode.x86 import BASE_NAMES
from tracer.events import (
    Event,
    Interrupt,
    MsrWrite,
    ProcessEvent,
    SegBaseChange,
    Symbolizer,
    SyscallEntry,
    SyscallExit,
    TlsSnapshot,
    VdsoCall,
)

SYSCALL_INSN_LEN = 2  # `syscall` is 0f 05; pt_regs->ip (user_rip) is the address after it


def function_name(addr: int, symbolize: Symbolizer | None) -> str:
    name = symbolize(addr) if symbolize is not None else None
    return name or f"{addr:#x}"


def kernel_location(pc: int, symbolize: Symbolizer | None) -> str:
    name = symbolize(pc) if symbolize is not None else None
    return f"{pc:#x} <{name}>" if name else f"{pc:#x}"


def node_name(node: CallNode, symbolize: Symbolizer | None) -> str:
    """What a slice is called: the function, the syscall's name, or the interrupt's."""
    if node.kind is NodeKind.CALL:
        return function_name(node.addr, symbolize)
    if node.kind is NodeKind.SYSCALL:
        return syscall_name(node.addr)
    if node.kind is NodeKind.IRQ:
        event = node.event
        name = event.name if isinstance(event, Interrupt) and event.name else "irq"
        return f"{name} (vector {node.addr})" if node.addr >= 0 else name  # -1: a system vector
    return comment_text(node.event, symbolize)


def merged_memory(*events: Event | None) -> dict[int, bytes | None]:
    """Argument buffers read at entry and at exit, the readable copy winning."""
    merged: dict[int, bytes | None] = {}
    for event in events:
        if isinstance(event, SyscallEntry | SyscallExit):
            for index, data in event.memory:
                if data is not None or index not in merged:
                    merged[index] = data
    return merged


def syscall_line(entry: SyscallEntry, exit_: SyscallExit | None) -> str:
    """strace's line for a call: `write(1, "hi\\n", 3) = 3`, ` = ?` while it has not returned."""
    ret = exit_.ret if exit_ is not None else None
    return format_syscall(entry.nr, entry.args, ret, merged_memory(entry, exit_))


def syscall_text(node: CallNode) -> str:
    """`write(1, "hi\\n", 3) = 3` (strace's text); `write(...) = 3` when entered before the
    trace; no ` = ...` while it has not returned."""
    entry = node.entry if isinstance(node.entry, SyscallEntry) else None
    exit_ = node.exit if isinstance(node.exit, SyscallExit) else None
    if entry is None:
        ret = f" = {format_return(node.addr, exit_.ret)}" if exit_ is not None else ""
        return f"{syscall_name(node.addr)}(...){ret}"
    text = syscall_line(entry, exit_)
    return text.removesuffix(" = ?") if exit_ is None else text


def syscall_entry_comment(node: CallNode, symbolize: Symbolizer | None) -> str:
    entry = node.entry
    assert isinstance(entry, SyscallEntry)
    insn = entry.user_rip - SYSCALL_INSN_LEN
    text = syscall_line(entry, None).removesuffix(" = ?")
    return (
        f"ring 3 -> 0: syscall at {insn:#x}, in the kernel at "
        f"{kernel_location(entry.pc, symbolize)}: {text}"
    )


def syscall_exit_comment(node: CallNode, symbolize: Symbolizer | None) -> str:
    text = syscall_text(node)
    exit_ = node.exit
    if isinstance(exit_, SyscallExit):
        where = kernel_location(exit_.pc, symbolize)
        before = " (entered before the trace)" if node.entry is None else ""
        return f"ring 0 -> 3 at {where} to {exit_.user_rip:#x}: {text}{before}"
    if node.ending is Ending.TASK_EXITED:
        return f"{text} = ? (no return: the task exited)"
    if node.ending is Ending.NO_EXIT:
        return f"{text} = ? (return to user not recorded)"
    return f"{text}: still in the kernel when the trace ended"


def irq_comment(node: CallNode, symbolize: Symbolizer | None) -> str:
    event = node.entry
    assert isinstance(event, Interrupt)
    where = f"{event.rip:#x}" if event.from_ring == 3 else kernel_location(event.rip, symbolize)
    text = f"{node_name(node, symbolize)} from ring {event.from_ring} at {where}"
    if event.error_code is not None:
        text += f", error code {event.error_code:#x}"
    if event.cr2 is not None:
        text += f", cr2 {event.cr2:#x}"
    return text


def comment_text(event: Event, symbolize: Symbolizer | None) -> str:
    """An inline event as one line: MSR writes, base changes, TLS snapshots, process exits."""
    if isinstance(event, MsrWrite):
        old = "?" if event.old is None else f"{event.old:#x}"
        return (
            f"wrmsr {msr_name(event.msr)} {old} -> {describe_msr(event.msr, event.new, symbolize)}"
        )
    if isinstance(event, SegBaseChange):
        how = ", inferred" if event.inferred else ""
        owners = ""
        if event.old_owner or event.new_owner:
            owners = f" [{event.old_owner or '?'} -> {event.new_owner or '?'}]"
        return (
            f"{BASE_NAMES[event.which]} {event.old:#x} -> {event.new:#x} "
            f"({event.cause.value}{how}){owners}"
        )
    if isinstance(event, TlsSnapshot):
        values = "".join(
            f" {name}={'?' if value is None else hex(value)}" for name, value in event.variables
        )
        owner = event.owner or "?"
        return f"TLS fs={event.fs_base:#x} owner={owner} {event.self_pointer_text}{values}"
    if isinstance(event, ProcessEvent):
        return f"+++ {event.name} exited with {event.status} +++"
    return event.kind.value


def vdso_line(event: VdsoCall) -> str:
    """`clock_gettime(CLOCK_MONOTONIC, 0x7ffd...) [vdso]`: decoded like the syscall of the same
    name where there is one; its result is not seen (no stop at the return)."""
    nr = syscall_number(event.name)
    if nr is None:
        return f"{event.name}({', '.join(hex(a) for a in event.args[:2])}, ...) [vdso]"
    return f"{event.name}({', '.join(format_args(nr, event.args, None, None))}) [vdso]"
