"""What the checker needs to know about a kernel, read from its image once and kept in the
tracer's cache under the files it came from: a Linux kernel takes seconds to disassemble."""

from __future__ import annotations

from pathlib import Path

from tracer.analysis.checks import KernelFacts
from tracer.events import Symbolizer
from tracer.image.trace_kernel import KernelOnDemand, TraceKernel

_CACHE = "kernel-facts"
_VERSION = 1  # of what is kept: a change in how it is found bumps it
# Kept only for a kernel with this much code (Linux: 15 MB, 0.8 s); a small one is quicker to
# scan than to keep.
KEEP_FROM_CODE_BYTES = 1 << 20


def kernel_facts(
    kernel: TraceKernel | Path | None, meta: dict[str, str]
) -> tuple[KernelFacts, Symbolizer | None]:
    """Does the kernel use FS, which functions touch %fs:, the GDT the capture read (trace
    meta), and the kernel's symbolizer (opening the image at its first call); facts without
    the image when it cannot be opened. A bare path takes the symbols the meta names (relative
    to the current directory)."""
    if not isinstance(kernel, TraceKernel):
        kernel = TraceKernel.of(meta, kernel=kernel)
    gdt = bytes.fromhex(meta["gdt"]) if meta.get("gdt") else None
    if not kernel.readable:
        return KernelFacts(gdt=gdt), None
    on_demand = KernelOnDemand(kernel)
    fs_use = _fs_use(kernel, on_demand)
    if fs_use is None:
        return KernelFacts(gdt=gdt), None
    uses_fs, fs_functions = fs_use
    return KernelFacts(uses_fs, fs_functions, gdt), on_demand.symbolize


def _fs_use(kernel: TraceKernel, on_demand: KernelOnDemand) -> tuple[bool, frozenset[str]] | None:
    """(kernel code uses FS, the functions with %fs: operands), from the cache or the image;
    None when the image cannot be read."""
    from tracer.image.cache import files_key, load_answer, save_answer
    from tracer.image.segment_use import functions_using_segment

    key = files_key(kernel.path, kernel.symbols, version=_VERSION)
    kept = load_answer(_CACHE, key) if key is not None else None
    if isinstance(kept, dict) and isinstance(kept.get("fs_functions"), list):
        return bool(kept.get("uses_fs")), frozenset(map(str, kept["fs_functions"]))
    image = on_demand.image()
    if image is None:
        return None
    fs_functions = functions_using_segment(image, "fs")
    uses_fs = bool(fs_functions) or image.tls_segment is not None
    code_bytes = sum(section.size for section in image.executable_sections())
    if key is not None and code_bytes >= KEEP_FROM_CODE_BYTES:
        save_answer(_CACHE, key, {"uses_fs": uses_fs, "fs_functions": sorted(fs_functions)})
    return uses_fs, fs_functions
