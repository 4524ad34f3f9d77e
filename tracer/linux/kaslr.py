"""The KASLR slide: how far this boot moved the kernel image from the addresses in its
symbols. LSTAR holds the runtime address of `entry_SYSCALL_64`; the symbols hold its link-time
(or, for a kallsyms dump, another boot's) address. Per-CPU offsets and absolute symbols do not
move; only addresses inside the image's own range do."""

from __future__ import annotations

from dataclasses import dataclass

from tracer.decode.x86 import KERNEL_HALF

# x86-64 Linux moves the image by a multiple of CONFIG_PHYSICAL_ALIGN (2 MiB on Debian's and
# upstream's defaults); any other distance means the symbols belong to another kernel.
SLIDE_ALIGN = 0x200000
_MASK = (1 << 64) - 1


class SlideError(Exception):
    """LSTAR and the symbols disagree in a way no slide explains; one line."""


@dataclass(frozen=True)
class Slide:
    offset: int  # runtime - symbol address, as a signed number
    image_start: int  # the symbols' image range [start, end) that moves
    image_end: int

    def relocate(self, addr: int) -> int:
        """A symbol address to where it is in this boot."""
        if self.image_start <= addr < self.image_end:
            return (addr + self.offset) & _MASK
        return addr

    def unrelocate(self, addr: int) -> int:
        """A runtime address back to the symbols' address (to symbolize it)."""
        if self.image_start <= (addr - self.offset) & _MASK < self.image_end:
            return (addr - self.offset) & _MASK
        return addr

    def __str__(self) -> str:
        sign = "-" if self.offset < 0 else "+"
        return f"KASLR slide {sign}{abs(self.offset):#x}" if self.offset else "no KASLR slide"


def slide_from_lstar(
    lstar: int, entry_syscall: int, image: tuple[int, int], *, align: int = SLIDE_ALIGN
) -> Slide:
    """The slide that puts `entry_SYSCALL_64` (from the symbols) at LSTAR (read at a stop)."""
    if lstar < KERNEL_HALF:
        raise SlideError(f"LSTAR {lstar:#x} is not a kernel address: is syscall set up yet?")
    start, end = image
    if not start <= entry_syscall < end:
        raise SlideError(f"entry_SYSCALL_64 {entry_syscall:#x} is outside the image {start:#x}")
    offset = lstar - entry_syscall
    if offset % align:
        raise SlideError(
            f"LSTAR {lstar:#x} is entry_SYSCALL_64 ({entry_syscall:#x}) moved by {offset:#x}, "
            f"not a multiple of {align:#x}: the symbols are for another kernel"
        )
    return Slide(offset, start, end)


def image_range(symbol_addresses: list[tuple[int, int]]) -> tuple[int, int]:
    """[start, end) over (address, size) pairs in the kernel half: the part of the symbols a
    slide moves (per-CPU offsets, linked at 0, and absolute values stay put)."""
    kernel = [(a, s) for a, s in symbol_addresses if a >= KERNEL_HALF]
    if not kernel:
        raise SlideError("no kernel-half addresses among the symbols")
    return min(a for a, _ in kernel), max(a + max(s, 1) for a, s in kernel)
