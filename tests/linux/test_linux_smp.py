"""Threads on two CPUs under Debian's own kernel (`--smp 2`): a static glibc pthread program
with a worker pinned to each CPU. Its syscalls on both CPUs, its clone3 calls decoded with
CLONE_SETTLS, each thread's TCB an FS owner, every syscall's exit matched to its own entry (by
the kernel-stack slot Linux's entry loads RSP from, or the frame at the iret route's start),
the exec's own result, `tracer check` clean."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_linux_capture import after_exec, capture, check_execve_result, tracer

from tracer.decode.syscall_table import syscall_name
from tracer.events import SyscallExit
from tracer.export.labels import syscall_line
from tracer.linux.packages import KernelFiles

pytestmark = [pytest.mark.linux, pytest.mark.qemu]
SOURCE = Path(__file__).parent / "programs" / "two_threads.c"
NO_RETURN = {"exit", "exit_group"}


def _build(tmp_path: Path) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    program = tmp_path / "two_threads"
    subprocess.run(["gcc", "-O2", "-static", "-pthread", "-o", program, SOURCE], check=True)
    return program


# Linux's sched_exec often moves the exec'ing task to the other CPU: its new image keeps its
# pid (probes/identity.py), and the FS reset by the exec is caused by the execve's exit on the
# CPU it returned on (Linux's iret route, probes/syscall_exit.py), so `tracer check` is clean
# whether the exec moved or not.
def test_two_threads_on_two_cpus(tmp_path: Path, debian_kernel_dbg: KernelFiles) -> None:
    assert debian_kernel_dbg.vmlinux_nodebug is not None
    program = _build(tmp_path)
    host = subprocess.run([program], capture_output=True, text=True, check=True).stdout
    summary, events = capture(tmp_path, "--kernel", debian_kernel_dbg.vmlinux_nodebug,
                              "--smp", "2", program=program)  # fmt: skip
    assert host.strip() in summary["meta"]["console"].splitlines()  # prints what it prints
    mine = after_exec(events, program.name)
    assert {e.cpu for e in mine} == {0, 1}, "the program's syscalls on both CPUs"
    check_execve_result(events, program)  # `execve(...) = 0`, as strace prints it

    clones = [e for e in mine if syscall_name(e.nr) in ("clone", "clone3")]
    exits = {e.entry_seq: e for e in events if isinstance(e, SyscallExit)}
    assert len(clones) == 2
    for clone in clones:
        line = syscall_line(clone, exits.get(clone.seq))
        assert "CLONE_THREAD" in line and "CLONE_SETTLS" in line and "tls=0x" in line, line
    tids = sorted(exits[c.seq].ret for c in clones)
    assert all(tid > 0 for tid in tids)

    tls = tracer("report", "--tls", tmp_path / "linux.db")
    assert tls.returncode == 0, tls.stderr
    owners = {f"app-tcb[{program.name}:{mine[0].pid}{f' tid {tid}' if tid else ''}]"
              for tid in (None, *tids)}  # fmt: skip
    assert all(owner in tls.stdout for owner in owners), (owners, tls.stdout[-2000:])

    for entry in mine:  # every entry has its own exit, with its number
        if syscall_name(entry.nr) in NO_RETURN:
            continue
        exit_ = exits.get(entry.seq)
        assert exit_ is not None and exit_.nr == entry.nr, syscall_line(entry, None)
    assert not [e for e in events if isinstance(e, SyscallExit) and e.entry_seq is None
                and e.pid == mine[0].pid]  # fmt: skip
