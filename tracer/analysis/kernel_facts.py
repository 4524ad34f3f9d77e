"""What the checker needs to know about a kernel, read from its image once by the caller."""

from __future__ import annotations

from pathlib import Path

from tracer.analysis.checks import KernelFacts
from tracer.events import Symbolizer


def kernel_facts(
    kernel: Path | None, meta: dict[str, str]
) -> tuple[KernelFacts, Symbolizer | None]:
    """Does the kernel use FS, which functions touch %fs:, the GDT the capture read (trace
    meta), and the kernel's symbolizer; facts without the image when it cannot be opened."""
    from tracer.image import ImageError
    from tracer.image.segment_use import functions_using_segment
    from tracer.image.symbol_map import open_kernel_image

    gdt = bytes.fromhex(meta["gdt"]) if meta.get("gdt") else None
    if kernel is None or not kernel.exists():
        return KernelFacts(gdt=gdt), None
    try:
        image = open_kernel_image(kernel, meta.get("symbols"))
    except ImageError:
        return KernelFacts(gdt=gdt), None
    fs_functions = functions_using_segment(image, "fs")
    uses_fs = bool(fs_functions) or image.tls_segment is not None
    return KernelFacts(uses_fs, fs_functions, gdt), image.symbolize
