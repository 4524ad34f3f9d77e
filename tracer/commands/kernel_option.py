"""What the subcommands that read a trace share: the trace argument, --kernel, and the kernel's
symbols (as the TUI reads them: `tracer.image.trace_kernel`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracer.events import Symbolizer
from tracer.image.trace_kernel import TraceKernel


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


def trace_kernel(given: Path | None, meta: dict[str, str], trace: Path | None) -> TraceKernel:
    """The kernel a subcommand reads symbols from: --kernel, else the one the trace names,
    with the symbols file and KASLR slide the trace names."""
    return TraceKernel.of(meta, trace, given)


def kernel_symbolizer(kernel: TraceKernel) -> Symbolizer | None:
    """The kernel's link-time address -> symbol function (the trace's pcs); None when there
    is no readable kernel. `kernel.running(...)` of it names MSR values."""
    if not kernel.readable:
        return None
    from tracer.image import ImageError

    try:
        return kernel.open().symbolize
    except (ImageError, OSError):
        return None
