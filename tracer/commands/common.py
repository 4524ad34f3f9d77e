"""What every subcommand shares: exit codes, one-line errors, where the built-in guest lives."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
GUEST_DIR = REPO_ROOT / "guest"
GUEST_BUILD = GUEST_DIR / "build"
BUILTIN_KERNEL = GUEST_BUILD / "kernel.elf"
BOOT_IMAGE_NAMES = ("kernel.bin", "kernel.mb", "kernel32.elf", "kernel.elf32", "kernel-boot.elf")


class UsageError(Exception):
    """Bad input from the user: a one-line message and exit status 2."""


def fail(message: str, code: int = EXIT_FAILURE) -> int:
    print(f"tracer: error: {message}", file=sys.stderr)
    return code


def builtin_program(name: str) -> Path:
    return GUEST_BUILD / "user" / name


def ensure_guest_built(quiet: bool = False) -> None:
    """Build the built-in guest with make when its kernel or programs are missing."""
    if BUILTIN_KERNEL.exists() and builtin_program("hello-glibc").exists():
        return
    if not (GUEST_DIR / "Makefile").exists():
        raise UsageError(f"the built-in guest's sources are missing ({GUEST_DIR})")
    if shutil.which("make") is None:
        raise UsageError("make not found; install it with: apt-get install make")
    if not quiet:
        print("tracer: building the guest (make -C guest)...", file=sys.stderr)
    proc = subprocess.run(
        ["make", "-C", str(GUEST_DIR), "-j2"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise UsageError(f"building the guest failed: {tail}")


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
    raise UsageError(
        f"{kernel}: QEMU cannot boot an ELF64 kernel directly; pass --boot-image "
        "(a multiboot flat image or an `objcopy -O elf32-i386` copy)"
    )
