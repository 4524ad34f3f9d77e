"""What the subcommands that read a trace share: --kernel, and the kernel's symbols."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracer.events import Symbolizer


def add_kernel_option(parser: Any, what: str = "kernel ELF for symbols") -> None:
    """--kernel for a subcommand that reads a trace: by default the kernel the trace names."""
    parser.add_argument(
        "--kernel", type=Path, default=None, help=f"{what} (default: the one the trace names)"
    )


def trace_kernel(given: Path | None, meta: dict[str, str]) -> Path | None:
    """The kernel a subcommand reads symbols from: --kernel, else the one the trace names."""
    return given or (Path(meta["kernel"]) if meta.get("kernel") else None)


def kernel_symbolizer(kernel: Path | None) -> Symbolizer | None:
    """The kernel's address -> symbol function; None when there is no readable kernel."""
    if kernel is None or not kernel.exists():
        return None
    from tracer.image import ElfImage, ImageError

    try:
        return ElfImage.open(kernel).symbolize
    except ImageError:
        return None
