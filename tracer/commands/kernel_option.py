"""What the subcommands that read a trace share: the trace argument, --kernel, and the kernel's
symbols."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracer.events import Symbolizer


def trace_command(sub: Any, name: str, help: str, description: str | None) -> Any:
    """The parser of a subcommand that reads a trace: its file, and --kernel, by default the
    kernel the trace names."""
    parser = sub.add_parser(name, help=help, description=description)
    parser.add_argument("trace", type=Path)
    parser.add_argument(
        "--kernel",
        type=Path,
        default=None,
        help="kernel ELF for symbols (default: the one the trace names)",
    )
    return parser


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
