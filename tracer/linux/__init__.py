"""Tracing a stock Linux kernel: Debian's packages, symbols and layouts, the initramfs with the
tracer's /init, the kallsyms boot, and the KASLR slide."""

from .first_syscall import enter_first_syscall
from .initramfs import InitramfsError, Program, build_init, write_initramfs
from .kallsyms_boot import KallsymsBootError, kallsyms_for
from .kaslr import Slide, SlideError, image_range, slide_from_lstar
from .kernel import LinuxKernel, is_bzimage, open_linux_kernel, stripped_copy
from .layout import PT_REGS_ABI, LinuxLayout, linux_layout
from .packages import KernelFiles, PackageUnavailable, fetch_kernel

__all__ = [
    "PT_REGS_ABI",
    "InitramfsError",
    "KallsymsBootError",
    "KernelFiles",
    "LinuxKernel",
    "LinuxLayout",
    "PackageUnavailable",
    "Program",
    "Slide",
    "SlideError",
    "build_init",
    "fetch_kernel",
    "image_range",
    "is_bzimage",
    "kallsyms_for",
    "linux_layout",
    "enter_first_syscall",
    "open_linux_kernel",
    "slide_from_lstar",
    "stripped_copy",
    "write_initramfs",
]
