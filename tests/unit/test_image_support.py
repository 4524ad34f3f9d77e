"""Builds the image-layer test binaries from tests/unit/fixtures/image with gcc at test time.

Imported by the test_image_*.py modules; it holds no tests itself.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "image"
GUEST_KERNEL = Path(__file__).resolve().parents[2] / "guest" / "build" / "kernel.elf"

# A freestanding static executable with no glibc start files, like a kernel or a raw program.
FREESTANDING = [
    "-nostdlib", "-static", "-no-pie", "-fno-pie", "-O1", "-fcf-protection=none",
    "-fno-stack-protector", "-fno-asynchronous-unwind-tables",
]  # fmt: skip


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not found; the image tests compile their fixtures with it")
    return path


def compile_program(out: Path, sources: list[Path | str], flags: list[str]) -> Path:
    """gcc `sources` into `out`; skip the test when gcc is missing, fail loudly when it errors."""
    gcc = require_tool("gcc")
    cmd = [gcc, *flags, "-o", str(out), *map(str, sources)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stderr}"
    return out


def build_kernel(out_dir: Path, *, debug: str = "-g") -> Path:
    """The entry.S + kernel.c fixture kernel, with DWARF unless `debug` is ""."""
    flags = [*FREESTANDING, *([debug] if debug else [])]
    sources = [FIXTURES / "entry.S", FIXTURES / "kernel.c"]
    return compile_program(out_dir / f"kernel{debug or '-nodebug'}.elf", sources, flags)


def build_user(out_dir: Path) -> Path:
    """user.c: a raw static program (no DWARF) with two syscall instructions."""
    return compile_program(out_dir / "user.elf", [FIXTURES / "user.c"], FREESTANDING)


def assemble_program(out_dir: Path, name: str, source: str) -> Path:
    """A freestanding program from inline GNU as source."""
    path = out_dir / f"{name}.S"
    path.write_text(source)
    return compile_program(out_dir / f"{name}.elf", [path], FREESTANDING)
