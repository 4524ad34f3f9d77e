"""Why a base register was written, from where the write was called.

The agent sends the return addresses above a `wrmsr`/`wr*base` (gdb's unwinder). A return
address inside a rebuilt entry path, before its call to the C handler, means the write is the
entry-side TLS switch; after it, the exit side. Inside the context-switch code it is a switch;
during arch_prctl it is arch_prctl; otherwise a plain wrmsr.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tracer.events import SegCause

if TYPE_CHECKING:
    from tracer.image import ElfImage, EntryPath

SWITCH_FUNCTIONS = ("__switch_to_asm", "__switch_to", "context_switch", "switch_to")


@dataclass(frozen=True)
class _PathCalls:
    entry_returns: frozenset[int]
    exit_returns: frozenset[int]
    entry_cause: SegCause
    exit_cause: SegCause
    entry_swapgs: tuple[int, ...] = ()


@dataclass(frozen=True)
class Attribution:
    """Why a base was written, and (for an entry-side write) the swapgs already run."""

    cause: SegCause
    entry_swapgs: tuple[int, ...] = ()


def _path_calls(path: EntryPath, entry_cause: SegCause, exit_cause: SegCause) -> _PathCalls:
    entry, exit_ = set(), set()
    dispatch = path.dispatch_call
    for insn in path.instructions:
        if insn.mnemonic != "call" or insn.addr == dispatch:
            continue
        ret = insn.addr + insn.size
        if dispatch is not None and path.entry <= insn.addr < dispatch:
            entry.add(ret)
        else:
            exit_.add(ret)
    return _PathCalls(
        frozenset(entry), frozenset(exit_), entry_cause, exit_cause, tuple(path.entry_swapgs)
    )


@dataclass
class CauseFinder:
    paths: list[_PathCalls] = field(default_factory=list)
    switch_ranges: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        image: ElfImage | None,
        syscall: EntryPath | None,
        stubs: Sequence[tuple[EntryPath, bool]],
    ) -> CauseFinder:
        """`stubs`: each interrupt stub's path and whether it is an exception."""
        finder = cls()
        if syscall is not None:
            finder.paths.append(_path_calls(syscall, SegCause.SYSCALL_ENTRY, SegCause.SYSCALL_EXIT))
        for path, is_exception in stubs:
            if is_exception:
                causes = (SegCause.EXCEPTION_ENTRY, SegCause.EXCEPTION_EXIT)
            else:
                causes = (SegCause.INTERRUPT_ENTRY, SegCause.INTERRUPT_EXIT)
            finder.paths.append(_path_calls(path, *causes))
        if image is not None:
            for name in (*SWITCH_FUNCTIONS, "schedule", "__schedule"):
                sym = image.symbol(name)
                if sym is not None:
                    finder.switch_ranges.append((sym.addr, sym.addr + max(sym.size, 1)))
        return finder

    def attribute(
        self,
        callers: Sequence[int],
        stack: Sequence[int],
        in_arch_prctl: bool,
        default: SegCause,
        pc: int | None = None,
    ) -> Attribution:
        """The write's own place first (inside the context-switch code it is a switch, even
        during an arch_prctl the task was switched out of), then return addresses from gdb's
        unwinder, then words on the stack (asm stubs have no CFI, so the unwinder stops at
        them; their return addresses are still there)."""
        if pc is not None and self._in_switch(pc):
            return Attribution(SegCause.CONTEXT_SWITCH)
        # Words below the deepest frame the unwinder already walked are those frames' own
        # slots, where stale return addresses from earlier calls can linger: skip them.
        stack = list(stack)
        if callers and callers[-1] in stack:
            stack = stack[stack.index(callers[-1]) + 1 :]
        found = self._from_returns(callers) or self._from_returns(stack, switches=False)
        if found is None and in_arch_prctl:
            # Inside arch_prctl, a switch's return address among the raw stack words is a
            # stale one (Linux's deep kernel stack keeps them): the syscall is the cause.
            return Attribution(SegCause.ARCH_PRCTL)
        return found or self._from_returns(stack) or Attribution(default)

    def _from_returns(self, addresses: Sequence[int], switches: bool = True) -> Attribution | None:
        for pc in addresses:
            for path in self.paths:
                if pc in path.entry_returns:
                    return Attribution(path.entry_cause, path.entry_swapgs)
                if pc in path.exit_returns:
                    return Attribution(path.exit_cause)
            if switches and self._in_switch(pc):
                return Attribution(SegCause.CONTEXT_SWITCH)
        return None

    def _in_switch(self, pc: int) -> bool:
        return any(lo <= pc < hi for lo, hi in self.switch_ranges)


def stack_words(hex_data: str | None) -> list[int]:
    if not hex_data:
        return []
    data = bytes.fromhex(hex_data)
    return [int.from_bytes(data[i : i + 8], "little") for i in range(0, len(data) - 7, 8)]
