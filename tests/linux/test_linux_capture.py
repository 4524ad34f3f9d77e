"""`tracer capture` on Debian's own kernel, as a user runs it: a static glibc program the
project never built, against host strace of the same binary; `tracer check` clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_linux_boot import _host_strace, _program

from tracer.decode.syscall_table import syscall_name
from tracer.events import ContextSwitch, SegBaseChange, SegCause, SyscallEntry, SyscallExit
from tracer.export.labels import syscall_line
from tracer.linux.kaslr import SLIDE_ALIGN
from tracer.linux.packages import KernelFiles
from tracer.store import TraceReader

pytestmark = [pytest.mark.linux, pytest.mark.qemu]
NR_EXECVE = 59


def tracer(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracer.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=900)  # fmt: skip


def capture(tmp_path: Path, *args: str | Path, program: Path | None = None) -> tuple[dict, list]:
    out = tmp_path / "linux.db"
    done = tracer("capture", *args, "--program", program or _program(), "-o", out, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert [p["status"] for p in summary["programs"]] == [0]
    check = tracer("check", out)
    assert check.returncode == 0, check.stdout  # `tracer check` clean
    with TraceReader.open(out) as reader:
        return {**summary, "meta": reader.meta}, list(reader.events())


def after_exec(events: list, program: str) -> list[SyscallEntry]:
    """The program's own syscalls: its pid's, after the execve that loaded it."""
    pid = next(p for p in events if p.kind == "process" and p.name == program).pid
    mine = [e for e in events if isinstance(e, SyscallEntry) and e.pid == pid]
    start = max(i for i, e in enumerate(mine) if e.nr == NR_EXECVE) + 1
    return mine[start:]


def _host_execve_result(program: Path) -> str:
    """What strace prints after `execve(...) = `: the exec's own result."""
    out = subprocess.run(["strace", "-qq", "-e", "trace=execve", str(program)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    line = next(ln for ln in out.stderr.splitlines() if ln.startswith("execve("))
    return line.rsplit(" = ", 1)[1]


def check_execve_result(events: list, program: Path) -> None:
    """The exec that loaded the program returns through Linux's iret route: its exit is
    matched to its entry and shows what strace shows (`execve(...) = 0`)."""
    pid = next(p for p in events if p.kind == "process" and p.name == program.name).pid
    execve = [e for e in events if isinstance(e, SyscallEntry) and e.pid == pid
              and e.nr == NR_EXECVE][-1]  # fmt: skip
    exit_ = next(e for e in events if isinstance(e, SyscallExit) and e.entry_seq == execve.seq)
    assert exit_.pid == pid and exit_.cr3 != execve.cr3  # the new program's address space
    line = syscall_line(execve, exit_)
    assert line.endswith(f" = {_host_execve_result(program)}"), line


def check_against_strace(events: list) -> None:
    program = _program()
    mine = after_exec(events, program.name)
    assert [syscall_name(e.nr) for e in mine] == _host_strace(program)
    check_execve_result(events, program)
    arch_prctl = next(e for e in mine if syscall_name(e.nr) == "arch_prctl")
    fs = [e for e in events if isinstance(e, SegBaseChange) and e.which == "fs"]
    assert any(e.cause is SegCause.ARCH_PRCTL and e.new == arch_prctl.args[1] for e in fs), (
        "the FS change of arch_prctl(ARCH_SET_FS) is shown"
    )


def test_a_dwarf_vmlinux_boots_through_pvh(tmp_path: Path, debian_kernel_dbg: KernelFiles):
    """With the context-switch probe too: the exec'd program still runs under its own name
    (check_against_strace), and the FS resets Linux does with null selectors in mm_release
    (exec, exit), seen at a switch, are the syscall's: `tracer check` clean (capture())."""
    summary, events = capture(tmp_path, "--kernel", debian_kernel_dbg.vmlinux,
                              "--probes", "syscall,msr,segbase,sched")  # fmt: skip
    check_against_strace(events)
    assert summary["meta"]["kaslr_slide"] == "0x0"  # no decompressor: no KASLR
    assert summary["armed"].startswith("at /init's first syscall")  # the default
    program = _program().name
    switches = [e for e in events if isinstance(e, ContextSwitch)]
    assert any(e.prev_name == program for e in switches)  # names from task_struct (DWARF)
    pid = next(p for p in events if p.kind == "process" and p.name == program).pid
    reset = [e for e in events if isinstance(e, SegBaseChange) and e.which == "fs"
             and e.pid == pid and e.new == 0]  # fmt: skip
    assert reset and all(e.cause in (SegCause.SYSCALL, SegCause.SYSCALL_EXIT) for e in reset)
    # The switches probed on one CPU: the syscall sites were lifted at their stops, not
    # stepped over, and strace's list above came out whole.
    entries = [e for e in events if isinstance(e, SyscallEntry)]
    assert int(summary["meta"]["agent_lifted"]) >= len(entries)


def test_a_bzimage_with_system_map_under_kaslr(tmp_path: Path, debian_kernel_dbg: KernelFiles):
    assert debian_kernel_dbg.system_map is not None
    summary, events = capture(tmp_path, "--kernel", debian_kernel_dbg.vmlinuz,
                              "--symbols", debian_kernel_dbg.system_map)  # fmt: skip
    check_against_strace(events)
    assert int(summary["meta"]["kaslr_slide"], 16) % SLIDE_ALIGN == 0


def test_an_intel_cpu_turns_pti_on(tmp_path: Path, debian_kernel_dbg: KernelFiles):
    summary, events = capture(tmp_path, "--kernel", debian_kernel_dbg.vmlinux_nodebug,
                              "--cpu", "Skylake-Client")  # fmt: skip
    assert "page tables isolation: enabled" in summary["meta"]["console"]
    check_against_strace(events)


def test_a_bzimage_alone_takes_its_symbols_from_a_kallsyms_boot(
    tmp_path: Path, debian_kernel: KernelFiles
):
    summary, events = capture(tmp_path, "--kernel", debian_kernel.vmlinuz)
    check_against_strace(events)
    assert int(summary["meta"]["kaslr_slide"], 16) % SLIDE_ALIGN == 0
