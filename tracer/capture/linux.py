"""Capturing a stock Linux kernel: the tracer's initramfs, no probe during the boot, the first
user syscall as the moment to look (LSTAR, hence the KASLR slide), then the same probes as on
any kernel, at runtime addresses, with every address in the trace at link time again."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tracer.capture.options import CaptureOptions
from tracer.image import ElfImage, has_pvh_note
from tracer.image.symbol_map import with_symbols
from tracer.linux.extract import extract_vmlinux
from tracer.linux.initramfs import Program as InitProgram
from tracer.linux.initramfs import build_init, write_initramfs
from tracer.linux.kaslr import Slide, image_range, slide_from_lstar
from tracer.linux.kernel import LinuxKernel, is_bzimage, open_linux_kernel
from tracer.probes.sched import TaskLayout
from tracer.target.errors import TargetError
from tracer.target.protocol import Target
from tracer.target.qemu import Module, QemuConfig
from tracer.target.records import AgentRecord, ProbeHit

LINUX_MEMORY_MB = 512
# PTI gives each process a kernel and a user PGD, 4 KiB apart in one 8 KiB allocation, and
# PCIDs sit in CR3's low 12 bits: one address space is CR3 without its low 13 bits.
CR3_SPACE_MASK = ~0x1FFF & ((1 << 64) - 1)
MASK64 = (1 << 64) - 1


def is_linux_boot(kernel: Path) -> bool:
    """A kernel QEMU boots the Linux ways: an ELF with a PVH entry note, or a bzImage."""
    return has_pvh_note(kernel) or is_bzimage(kernel)


@dataclass(frozen=True)
class LinuxBoot:
    kernel: LinuxKernel
    image: ElfImage  # code and symbols at link-time addresses, for planning
    init: Path  # the tracer's static /init: gdb's file when there is no kernel ELF
    own_symbols: bool  # the image's symbols are its own (not from a System.map or kallsyms)
    symbols_file: Path | None  # the System.map or kallsyms dump, when they are not its own

    @property
    def file_is_running_image(self) -> bool:
        """gdb's file holds what runs at its addresses: a vmlinux booted through PVH (no
        decompressor, no KASLR). Otherwise its read-only sections must not answer reads: /init
        stands in at user addresses other programs use, and a slid kernel is elsewhere."""
        return self.kernel.gdb_file is not None and has_pvh_note(self.kernel.boot_image)


def open_linux(options: CaptureOptions, progress: Callable[[str], None] | None) -> LinuxBoot:
    kernel = open_linux_kernel(options.kernel, options.symbols, progress)
    symbols = kernel.symbols
    own = isinstance(symbols, ElfImage) and bool(symbols.executable_sections())
    if isinstance(symbols, ElfImage) and own:
        image = symbols
    else:  # a System.map or kallsyms dump: the code comes from the bzImage itself
        image = with_symbols(
            ElfImage.open(extract_vmlinux(options.kernel), require_symbols=False),
            symbols.symbols,
        )
    symbols_file = None if own else getattr(symbols, "path", None)
    return LinuxBoot(kernel, image, build_init(), own, symbols_file)


def qemu_config(options: CaptureOptions, boot: LinuxBoot, scratch: Path) -> QemuConfig:
    initrd = options.initrd
    if initrd is None:
        programs = [InitProgram(p.path, p.args) for p in options.programs]
        initrd = write_initramfs(scratch / "initrd.cpio", programs, init=boot.init)
    return QemuConfig(
        boot_image=boot.kernel.boot_image,
        modules=(Module(initrd),),
        cmdline=f"console=ttyS0 panic=-1 {options.cmdline}".strip(),
        memory_mb=max(options.memory_mb, LINUX_MEMORY_MB),
        cpu=options.cpu,
        smp=options.smp,
        accel=options.accel,
        debug_exit=False,
    )


def task_layout(kernel: LinuxKernel) -> TaskLayout | None:
    """Where `task_struct` keeps pid and comm, from the layout cached by build-id."""
    layout = kernel.layout
    if layout.task_pid is None or layout.task_comm is None:
        return None
    return TaskLayout(layout.task_pid, 4, layout.task_comm, 16)


def kernel_slide(image: ElfImage, lstar: int) -> Slide:
    entry = image.address_of("entry_SYSCALL_64")
    if entry is None:
        raise TargetError("no entry_SYSCALL_64 in the symbols: cannot place the kernel")
    return slide_from_lstar(lstar, entry, image_range([(s.addr, s.size) for s in image.symbols]))


class LinuxTarget:
    """A Target whose addresses are the symbols' (link time): probes are armed where this
    boot put the code, and what comes back is moved back; one address space per process under
    PTI (CR3's PCID and user/kernel bits masked)."""

    def __init__(self, inner: Target, slide: Slide) -> None:
        self.inner = inner
        self.slide = slide

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __enter__(self) -> LinuxTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.__exit__(*exc)

    def load_agent(self, plan: dict[str, Any]) -> None:
        self.inner.load_agent({**plan, "probes": self._moved(plan.get("probes", []))})

    def arm(self, probes: Sequence[dict[str, Any]]) -> None:
        self.inner.arm(self._moved(probes))

    def _moved(self, probes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**p, "addr": self.slide.relocate(int(p["addr"]))} for p in probes]

    def drain(self, timeout: float = 0.05) -> Iterator[AgentRecord | None]:
        for record in self.inner.drain(timeout):
            yield self._back(record) if isinstance(record, ProbeHit) else record

    def _back(self, hit: ProbeHit) -> ProbeHit:
        fields = hit.fields
        if "callers" in fields or "stack" in fields:
            fields = dict(fields)
            if fields.get("callers"):
                fields["callers"] = [self.slide.unrelocate(a) for a in fields["callers"]]
            if fields.get("stack"):
                fields["stack"] = self._stack_back(fields["stack"])
        return replace(
            hit, pc=self.slide.unrelocate(hit.pc), cr3=hit.cr3 & CR3_SPACE_MASK, fields=fields
        )

    def _stack_back(self, text: str) -> str:
        data = bytes.fromhex(text)
        words = [int.from_bytes(data[i : i + 8], "little") for i in range(0, len(data) - 7, 8)]
        moved = b"".join(self.slide.unrelocate(w).to_bytes(8, "little") for w in words)
        return (moved + data[len(words) * 8 :]).hex()
