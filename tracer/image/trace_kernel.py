"""The kernel a recorded trace names, opened the same way by every reader of a trace (report,
check, export, the TUI): its ELF (meta `kernel`, or --kernel), the symbols file the capture
used (meta `symbols`: a bzImage's extracted ELF has none of its own, its System.map or kallsyms
dump has), and the boot's KASLR slide (meta `kaslr_slide`).

The trace's pcs are link-time addresses (the capture moved them back); MSR values (LSTAR, the
bases) are where the kernel ran, so they are unslid before they are named."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tracer.events import Symbolizer

from .elf import ElfImage
from .errors import ImageError
from .symbol_map import open_kernel_image

_MASK = (1 << 64) - 1


def meta_path(text: str, trace: Path | None) -> Path:
    """A path from a trace's meta; a relative one is beside the trace file (a trace moved with
    its kernel and symbols), or from the current directory when there is no file."""
    path = Path(text)
    if not path.is_absolute() and trace is not None:
        path = Path(trace).resolve().parent / path
    return path


def _slide(meta: Mapping[str, str]) -> int:
    try:
        return int(meta.get("kaslr_slide", "0"), 16)
    except ValueError:
        return 0


@dataclass(frozen=True)
class TraceKernel:
    path: Path | None  # the kernel ELF; None when the trace names none
    symbols: Path | None = None  # its symbols file, when the ELF has none
    slide: int = 0  # runtime minus link-time address (Linux's KASLR), signed

    @classmethod
    def of(
        cls, meta: Mapping[str, str], trace: Path | None = None, kernel: Path | None = None
    ) -> TraceKernel:
        """The kernel of a trace with this meta, stored at `trace`; `kernel` (--kernel)
        replaces the ELF the trace names, the symbols and the slide still apply."""
        if kernel is None and meta.get("kernel"):
            kernel = meta_path(meta["kernel"], trace)
        symbols = meta_path(meta["symbols"], trace) if meta.get("symbols") else None
        return cls(kernel, symbols, _slide(meta))

    @property
    def readable(self) -> bool:
        return self.path is not None and self.path.exists()

    def open(self) -> ElfImage:
        """The kernel with its symbols; ImageError (one line) when it cannot be read."""
        if self.path is None:
            raise ValueError("the trace names no kernel: see `readable`")
        return open_kernel_image(self.path, self.symbols)

    def unslid(self, addr: int) -> int:
        """An address where the kernel ran (an MSR value) as it was linked."""
        return (addr - self.slide) & _MASK

    def running(self, symbolize: Symbolizer | None) -> Symbolizer | None:
        """`symbolize` for addresses where the kernel ran (MSR values) rather than linked."""
        return running_symbolizer(symbolize, self.slide)


def running_symbolizer(symbolize: Symbolizer | None, slide: int) -> Symbolizer | None:
    """`symbolize` (link-time addresses) for addresses where a kernel moved by `slide` ran."""
    if symbolize is None or not slide:
        return symbolize
    return lambda addr: symbolize((addr - slide) & _MASK)


class KernelOnDemand:
    """A trace's kernel opened at its first use, once (a clean check names nothing, and
    Linux's symbols take a second to read); `symbolize` is None's equal when it cannot be."""

    def __init__(self, kernel: TraceKernel) -> None:
        self.kernel = kernel
        self._image: ElfImage | None = None
        self._tried = False

    def image(self) -> ElfImage | None:
        if not self._tried:
            self._tried = True
            try:
                self._image = self.kernel.open() if self.kernel.readable else None
            except (ImageError, OSError):
                self._image = None
        return self._image

    def symbolize(self, addr: int) -> str | None:
        image = self.image()
        return image.symbolize(addr) if image is not None else None
