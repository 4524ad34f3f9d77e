"""What every subcommand shares: exit codes, one-line errors, where the built-in guest lives."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM
DEBUG_ENV = "TRACER_DEBUG"

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


def internal_error(exc: BaseException) -> int:
    """The last resort: one line, and the traceback only when TRACER_DEBUG is set."""
    if os.environ.get(DEBUG_ENV):
        traceback.print_exception(exc)
        return fail(f"internal error: {type(exc).__name__}: {_one_line(exc)}")
    return fail(
        f"internal error: {type(exc).__name__}: {_one_line(exc)} "
        f"(run with {DEBUG_ENV}=1 to see the traceback)"
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or "(no message)"


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM becomes `Terminated` (a KeyboardInterrupt) so every `with` block cleans up."""
    from tracer.target.errors import Terminated

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise Terminated("terminated")

    try:
        old = signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread (main() called from a thread): leave it be
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def quiet_broken_pipe() -> None:
    """stdout's reader went away (`tracer report | head`): send the rest nowhere, silently."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


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
