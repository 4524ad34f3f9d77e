"""Debian's kernel booted under QEMU with the tracer's initramfs and gdb: the KASLR slide from
the first user syscall, then every syscall of a static glibc program at the slid entry, with
its process from `current_task`, against host strace of the same binary."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tracer.decode.syscall_table import syscall_name
from tracer.image.symbol_map import open_kernel_symbols
from tracer.linux.kaslr import SLIDE_ALIGN
from tracer.linux.layout import linux_layout
from tracer.linux.packages import KernelFiles
from tracer.linux.proof import DEFAULT_PROGRAM, ProofResult, run_proof

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


def _boot(kernel: KernelFiles, *, pvh: bool, symbols: Path, cpu: str = "max") -> ProofResult:
    assert kernel.vmlinux and kernel.vmlinux_nodebug
    boot = kernel.vmlinux_nodebug if pvh else kernel.vmlinuz
    layout = linux_layout(kernel.vmlinux)
    return run_proof(boot, open_kernel_symbols(symbols), layout, _program(), cpu=cpu)


def _check_syscalls(result: ProofResult) -> None:
    mine = [s for s in result.syscalls if s.comm == _program().name[:15]]
    assert [syscall_name(s.nr) for s in mine] == _host_strace(_program())
    assert all(s.regs_agree for s in result.syscalls)
    assert len({s.pid for s in mine}) == 1
    assert "Hello, world!" in result.serial
    assert result.lstar == result.lstar_msr


def test_bzimage_with_system_map_kaslr_on(debian_kernel_dbg: KernelFiles) -> None:
    assert debian_kernel_dbg.system_map
    result = _boot(debian_kernel_dbg, pvh=False, symbols=debian_kernel_dbg.system_map)
    assert result.slide is not None and result.slide.offset % SLIDE_ALIGN == 0
    _check_syscalls(result)
    assert all(s.cr3_entry == s.cr3_kernel for s in result.syscalls)  # -cpu max: PTI off


def test_vmlinux_through_pvh_with_elf_symbols(debian_kernel_dbg: KernelFiles) -> None:
    assert debian_kernel_dbg.vmlinux_nodebug
    result = _boot(debian_kernel_dbg, pvh=True, symbols=debian_kernel_dbg.vmlinux_nodebug)
    # No decompressor, so no KASLR: the PVH entry runs the image where it was linked.
    assert result.slide is not None and result.slide.offset == 0
    _check_syscalls(result)


def test_intel_cpu_turns_pti_on(debian_kernel_dbg: KernelFiles) -> None:
    assert debian_kernel_dbg.system_map
    result = _boot(debian_kernel_dbg, pvh=False, symbols=debian_kernel_dbg.system_map,
                   cpu="Skylake-Client")  # fmt: skip
    assert "Kernel/User page tables isolation: enabled" in result.serial
    _check_syscalls(result)
    # The entry runs on the user page tables; do_syscall_64 on the kernel's, of one process.
    assert all(s.cr3_entry != s.cr3_kernel for s in result.syscalls)
    assert all(s.cr3_entry & PTI_MASK == s.cr3_kernel & PTI_MASK for s in result.syscalls)
