"""Demand paging: a user buffer whose page is not mapped at a syscall's entry (Linux maps a page
the program never touched only when the kernel faults on it) is read again at the exit, and
one still unreadable there is shown as its address, never as other bytes."""

from __future__ import annotations

from test_probes_agent import REGS, SYSRET, Rig, _pop_regs, _syscall_cpu

from tracer.events import SyscallEntry, SyscallExit
from tracer.export.labels import syscall_line
from tracer.probes.kinds import ProbeKind

FRESH = 0x4A_9000  # an untouched bss page
NR_WRITE, NR_OPENAT = 1, 257


def _through(nr: int, *args: int, ret: int, mapped_by_kernel: bytes | None) -> tuple[str, int]:
    """Entry with `args[1]`'s page absent; the kernel maps it (or not) before its exit. The
    strace line, and how many reads at the exit went to that page."""
    rig = Rig()
    cpu = _syscall_cpu(nr, *args)
    rig.stop(ProbeKind.SYSCALL_ENTRY, cpu, regs_pointer="rdi")
    if mapped_by_kernel is not None:
        cpu.memory[FRESH] = bytearray(mapped_by_kernel)
    cpu.write(REGS + 80, ret.to_bytes(8, "little", signed=True))  # pt_regs->ax
    _pop_regs(cpu, SYSRET)
    reads: list[int] = []
    read = cpu.read
    cpu.read = lambda addr, n: reads.append(addr) or read(addr, n)  # type: ignore[method-assign]
    rig.stop(ProbeKind.SYSCALL_EXIT, cpu, exit_kind="sysretq")
    events = rig.events()
    entry = next(e for e in events if isinstance(e, SyscallEntry))
    exit_ = next(e for e in events if isinstance(e, SyscallExit))
    assert dict(entry.memory) == {1: None}  # nothing there at the entry
    return syscall_line(entry, exit_), reads.count(FRESH)


def test_an_input_buffer_the_kernel_faulted_in_is_read_at_the_exit() -> None:
    line, reads = _through(NR_WRITE, 1, FRESH, 8, ret=8, mapped_by_kernel=bytes(4096))
    assert line == 'write(1, "\\0\\0\\0\\0\\0\\0\\0\\0", 8) = 8'
    assert reads == 1


def test_a_path_in_a_fresh_page_is_read_at_the_exit() -> None:
    page = b"/etc/hostname\0".ljust(4096, b"\0")
    line, _ = _through(NR_OPENAT, -100, FRESH, 0, ret=-2, mapped_by_kernel=page)
    assert (
        line
        == 'openat(AT_FDCWD, "/etc/hostname", O_RDONLY) = -1 ENOENT (No such file or directory)'
    )


def test_a_buffer_never_mapped_is_shown_as_its_address() -> None:
    line, reads = _through(NR_WRITE, 1, FRESH, 8, ret=-14, mapped_by_kernel=None)
    assert line == f"write(1, {FRESH:#x}, 8) = -1 EFAULT (Bad address)"
    assert reads == 1  # tried again at the exit


def test_a_buffer_read_at_entry_is_not_read_again() -> None:
    rig = Rig()
    cpu = _syscall_cpu(NR_WRITE, 1, FRESH, 3)
    cpu.memory[FRESH] = bytearray(b"abc")
    rig.stop(ProbeKind.SYSCALL_ENTRY, cpu, regs_pointer="rdi")
    cpu.write(REGS + 80, (3).to_bytes(8, "little"))
    _pop_regs(cpu, SYSRET)
    reads: list[int] = []
    read = cpu.read
    cpu.read = lambda addr, n: reads.append(addr) or read(addr, n)  # type: ignore[method-assign]
    rig.stop(ProbeKind.SYSCALL_EXIT, cpu, exit_kind="sysretq")
    assert FRESH not in reads
