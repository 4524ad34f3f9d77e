"""Debian's kernel booted under QEMU with the tracer's initramfs and gdb, by the by-hand proof
(`python -m tracer.linux.proof`): the KASLR slide from the first user syscall, then every
syscall of a static glibc program at the slid entry, with its process from `current_task`,
against host strace of the same binary, and the page tables at the entry and in
do_syscall_64 with PTI on. The other boots (a bzImage with its System.map under KASLR, the
DWARF vmlinux through PVH) are `tracer capture`'s, in test_linux_capture.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tracer.decode.syscall_table import syscall_name
from tracer.linux.kaslr import SLIDE_ALIGN
from tracer.linux.kernel import open_linux_kernel
from tracer.linux.packages import KernelFiles
from tracer.linux.proof import DEFAULT_PROGRAM, ProofResult, program_syscalls, run_proof

pytestmark = [pytest.mark.linux, pytest.mark.qemu]
PTI_MASK = ~0x1FFF  # PCID (bits 0-11) and PTI's user page-table bit (12)


def _host_strace(program: Path) -> list[str]:
    if shutil.which("strace") is None:
        pytest.skip("strace not installed")
    # stdout on /dev/null, a character device like the guest's console: glibc then asks
    # ioctl(TCGETS) in both places.
    out = subprocess.run(["strace", "-qq", str(program)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)  # fmt: skip
    names = [line.split("(", 1)[0] for line in out.stderr.splitlines() if "(" in line]
    # execve is strace's view of the exec; in the guest it happened before the program ran.
    assert names[0] == "execve"
    return names[1:]


def _program() -> Path:
    if not DEFAULT_PROGRAM.exists():
        pytest.skip(f"{DEFAULT_PROGRAM} not built (./run setup)")
    return DEFAULT_PROGRAM


def _boot(kernel: Path, symbols: Path | None, cpu: str = "max") -> ProofResult:
    linux = open_linux_kernel(kernel, symbols)
    return run_proof(linux.boot_image, linux.symbols, linux.layout, _program(), cpu=cpu)


def _check_syscalls(result: ProofResult) -> None:
    mine = program_syscalls(result, _program().name)
    assert [syscall_name(s.nr) for s in mine] == _host_strace(_program())
    assert all(s.regs_agree for s in result.syscalls)
    assert len({(s.pid, s.cr3_kernel) for s in mine}) == 1  # one process, one address space
    assert "Hello, world!" in result.serial
    assert result.lstar == result.lstar_msr


def test_intel_cpu_turns_pti_on(debian_kernel_dbg: KernelFiles) -> None:
    result = _boot(debian_kernel_dbg.vmlinuz, debian_kernel_dbg.vmlinux, cpu="Skylake-Client")
    assert "Kernel/User page tables isolation: enabled" in result.serial
    assert result.slide is not None and result.slide.offset % SLIDE_ALIGN == 0  # a bzImage: KASLR
    _check_syscalls(result)
    # The entry runs on the user page tables; do_syscall_64 on the kernel's, of one process.
    assert all(s.cr3_entry != s.cr3_kernel for s in result.syscalls)
    assert all(s.cr3_entry & PTI_MASK == s.cr3_kernel & PTI_MASK for s in result.syscalls)
