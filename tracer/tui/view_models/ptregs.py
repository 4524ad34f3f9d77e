"""The pt_regs panel: a syscall's pt_regs at entry and at exit side by side, with the decoded
call and return value. Any event shows the syscall in flight (or just finished) on its CPU."""

from __future__ import annotations

from dataclasses import dataclass

from tracer.decode.msr import decode_rflags
from tracer.decode.strace import format_return, syscall_name
from tracer.events import Event, EventKind, SyscallEntry, SyscallExit
from tracer.store.api import TraceSource
from tracer.tui.view_models.lookup import last_at_or_before
from tracer.tui.view_models.rows import syscall_text

_PAIR_LOOKAHEAD = 256
ENOSYS_IN_AX = (-38) & (2**64 - 1)
_ARG_FIELDS = {
    "di": 0, "rdi": 0, "si": 1, "rsi": 1, "dx": 2, "rdx": 2, "r10": 3, "r8": 4, "r9": 5,
}  # fmt: skip
_NR_FIELDS = ("orig_ax", "orig_rax")
_RET_FIELDS = ("ax", "rax")
_FLAGS_FIELDS = ("flags", "eflags", "rflags", "r11")
_SELECTOR_FIELDS = ("cs", "ss")
SYSCALL_ORDER = (
    "orig_ax", "orig_rax", "ax", "rax", "di", "rdi", "si", "rsi", "dx", "rdx", "r10", "r8", "r9",
    "ip", "rip", "sp", "rsp", "flags", "eflags", "cs", "ss", "cx", "rcx", "r11",
)  # fmt: skip
"""The fields a syscall is about come first; the callee-saved rest follow in layout order."""


@dataclass(frozen=True, slots=True)
class PtRegsRow:
    name: str
    entry: int | None
    exit: int | None
    note: str = ""

    @property
    def changed(self) -> bool:
        return self.entry is not None and self.exit is not None and self.entry != self.exit


@dataclass(frozen=True)
class PtRegsView:
    call: str  # the strace line
    status: str  # "returned", "in flight (no exit recorded yet)", ...
    entry: SyscallEntry | None
    exit: SyscallExit | None
    rows: tuple[PtRegsRow, ...]
    context: str = ""  # why this syscall is shown for the selected event
    regs_addr: int | None = None


def find_syscall(
    source: TraceSource, event: Event
) -> tuple[SyscallEntry | None, SyscallExit | None, str]:
    """The entry and exit of the syscall an event belongs to, or the last one on its CPU."""
    context = ""
    if not isinstance(event, SyscallEntry | SyscallExit):
        cpu = getattr(event, "cpu", None)
        kinds = (EventKind.SYSCALL_ENTRY, EventKind.SYSCALL_EXIT)
        found = last_at_or_before(source, event.seq, kinds=kinds, cpu=cpu)
        if not isinstance(found, SyscallEntry | SyscallExit):
            return None, None, ""
        context = (
            f"the syscall {'in flight' if isinstance(found, SyscallEntry) else 'last'} "
            f"on cpu{cpu} at #{event.seq}"
        )
        event = found
    if isinstance(event, SyscallExit):
        entry = source.get(event.entry_seq) if event.entry_seq is not None else None
        return (entry if isinstance(entry, SyscallEntry) else None), event, context
    for later in source.events(
        event.seq + 1, _PAIR_LOOKAHEAD, kinds=EventKind.SYSCALL_EXIT, pid=event.pid
    ):
        if isinstance(later, SyscallExit) and later.entry_seq == event.seq:
            return event, later, context
    return event, None, context


def _note(
    name: str, entry: SyscallEntry | None, exit_: SyscallExit | None, value: int | None
) -> str:
    known = entry if entry is not None else exit_
    nr = known.nr if known is not None else None
    if name in _NR_FIELDS and nr is not None:
        return f"syscall {syscall_name(nr)}"
    if name in _ARG_FIELDS:
        return f"arg{_ARG_FIELDS[name]}"
    if name in _RET_FIELDS and exit_ is None and value == ENOSYS_IN_AX:
        return "-ENOSYS until the handler returns"
    if name in _RET_FIELDS and exit_ is not None:
        return f"return: {format_return(exit_.nr, exit_.ret)}"
    if name in _FLAGS_FIELDS and value is not None:
        return decode_rflags(value)
    if name in _SELECTOR_FIELDS and value is not None:
        return f"selector {value:#x}, ring {value & 3}"
    if name in ("ip", "rip", "cx", "rcx"):
        return "user RIP" if name in ("ip", "rip") else "user RIP (syscall saves it)"
    if name in ("sp", "rsp"):
        return "user RSP"
    return ""


def build_ptregs_view(
    entry: SyscallEntry | None, exit_: SyscallExit | None, context: str = ""
) -> PtRegsView | None:
    if entry is None and exit_ is None:
        return None
    names: list[str] = []
    for event in (entry, exit_):
        if event is not None:
            names.extend(name for name, _ in event.regs if name not in names)
    rank = {name: i for i, name in enumerate(SYSCALL_ORDER)}
    names.sort(key=lambda name: rank.get(name, len(rank)))
    at_entry = dict(entry.regs) if entry else {}
    at_exit = dict(exit_.regs) if exit_ else {}
    rows = tuple(
        PtRegsRow(
            name,
            at_entry.get(name),
            at_exit.get(name),
            _note(name, entry, exit_, at_exit.get(name, at_entry.get(name))),
        )
        for name in names
    )
    if exit_ is None:
        status = "in flight: no exit recorded yet"
    elif entry is None:
        status = "returned; its entry was not recorded"
    else:
        micros = (exit_.time_ns - entry.time_ns) / 1e3
        status = f"returned after {micros:.1f} µs"
    return PtRegsView(
        call=syscall_text(entry, exit_),
        status=status,
        entry=entry,
        exit=exit_,
        rows=rows,
        context=context,
        regs_addr=entry.regs_addr if entry else None,
    )
