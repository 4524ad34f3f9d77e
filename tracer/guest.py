"""The built-in guest (where it lives, how it is built, what QEMU boots) and the checks every
kernel and program passes before anything boots. Shared by the CLI, the API, the TUI and the
pytest plugin; no CLI here: bad input is an `InputError`, whose `str()` is one line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
GUEST_DIR = REPO_ROOT / "guest"
GUEST_BUILD = GUEST_DIR / "build"
BUILTIN_KERNEL = GUEST_BUILD / "kernel.elf"
BOOT_IMAGE_NAMES = ("kernel.bin", "kernel.mb", "kernel32.elf", "kernel.elf32", "kernel-boot.elf")


class InputError(ValueError):
    """A kernel, program or option the tracer cannot use; `str()` is one line."""


def builtin_program(name: str) -> Path:
    """One of the built-in guest's static test programs (`hello-glibc`, `fuzzer`, ...)."""
    return GUEST_BUILD / "user" / name


def ensure_guest_built(quiet: bool = False) -> None:
    """Build the built-in guest with make when its kernel or programs are missing."""
    if BUILTIN_KERNEL.exists() and builtin_program("hello-glibc").exists():
        return
    if not (GUEST_DIR / "Makefile").exists():
        raise InputError(f"the built-in guest's sources are missing ({GUEST_DIR})")
    if shutil.which("make") is None:
        raise InputError("make not found; install it with: apt-get install make")
    if not quiet:
        print("tracer: building the guest (make -C guest)...", file=sys.stderr)
    proc = subprocess.run(
        ["make", "-C", str(GUEST_DIR), "-j2"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise InputError(f"building the guest failed: {tail}")


def find_boot_image(kernel: Path) -> Path:
    """QEMU's -kernel refuses ELF64: find the bootable copy the build left beside the ELF."""
    with open(kernel, "rb") as f:
        ident = f.read(5)
    if ident[:4] == b"\x7fELF" and ident[4] == 1:
        return kernel
    for name in BOOT_IMAGE_NAMES:
        candidate = kernel.with_name(name)
        if candidate.exists() and candidate != kernel:
            return candidate
    raise InputError(
        f"{kernel}: QEMU cannot boot an ELF64 kernel directly; pass --boot-image "
        "(a multiboot flat image or an `objcopy -O elf32-i386` copy)"
    )


def check_kernel(path: Path) -> None:
    """An x86-64 ELF with symbols, or InputError."""
    from tracer.image import ElfImage, ImageError

    try:
        ElfImage.open(path)
    except ImageError as exc:
        raise InputError(str(exc)) from None


def check_program(path: Path) -> None:
    """A static x86-64 executable with symbols that a multiboot module line can name."""
    from tracer.image import ElfImage, ImageError

    if any(ch.isspace() for ch in str(path)):
        # The module line is "path arg arg": a space would split the path in the guest.
        raise InputError(f"{path}: a program path cannot contain whitespace")
    try:
        image = ElfImage.open(path, require_symbols=False)
    except ImageError as exc:
        raise InputError(str(exc)) from None
    if image.interp is not None:
        raise InputError(
            f"{path}: dynamically linked (needs {image.interp}); build it with -static"
        )
    if not image.is_static_executable:
        raise InputError(
            f"{path}: not an executable ({image.elf_type}); need a static x86-64 executable"
        )
    if not image.has_symtab:
        raise InputError(f"{path}: stripped: no .symtab; the tracer needs symbols")


def check_program_args(path: Path, args: tuple[str, ...] | list[str]) -> None:
    """Arguments the guest can pass on: it splits its module line on spaces."""
    for arg in args:
        if not arg or any(ch.isspace() for ch in arg):
            raise InputError(
                f"{path}: argument {arg!r} is empty or has whitespace; "
                "the guest splits its module line on spaces"
            )


__all__ = [
    "BOOT_IMAGE_NAMES",
    "BUILTIN_KERNEL",
    "GUEST_BUILD",
    "GUEST_DIR",
    "REPO_ROOT",
    "InputError",
    "builtin_program",
    "check_kernel",
    "check_program",
    "check_program_args",
    "ensure_guest_built",
    "find_boot_image",
]
