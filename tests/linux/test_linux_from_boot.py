"""`--from-boot` on Debian's vmlinux: the probes armed once the kernel has set LSTAR, so the
boot's kernel threads are in the trace before /init. Cut short by --max-events: every stop
costs 8-10 ms under TCG, and the whole boot makes thousands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_linux_boot import _program
from test_linux_capture import tracer

from tracer.events import ContextSwitch, ProcessEvent, SyscallEntry
from tracer.linux.packages import KernelFiles
from tracer.store import TraceReader

pytestmark = [pytest.mark.linux, pytest.mark.qemu]
EVENTS = 150


def test_from_boot_traces_kernel_threads_before_init(
    tmp_path: Path, debian_kernel_dbg: KernelFiles
) -> None:
    out = tmp_path / "boot.db"
    done = tracer("capture", "--kernel", debian_kernel_dbg.vmlinux, "--from-boot",
                  "--probes", "syscall,msr,segbase,sched", "--max-events", EVENTS,
                  "--program", _program(), "-o", out, "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["reason"] == "max-events"
    assert summary["armed"].startswith("from the boot")
    assert summary["stops"] > 0 and summary["seconds"] > 0
    with TraceReader.open(out) as reader:
        events = list(reader.events())
    # The boot only: no process has started, no syscall made; the kernel's own work is there.
    # (Its MSR writes, the machine-check banks, come only when the look that saw LSTAR set
    # came early: the boot goes on between two looks, more of it on a loaded machine.)
    assert not any(isinstance(e, ProcessEvent | SyscallEntry) for e in events)
    # Kernel threads (kthreadd is pid 2, its children follow), named from task_struct's comm
    # through the DWARF layout; which of them run in the first events depends on timing.
    threads = {e.next_pid: e.next_name for e in events if isinstance(e, ContextSwitch)}
    assert {pid: name for pid, name in threads.items() if pid >= 2}, threads
    assert threads.get(2, "kthreadd") == "kthreadd"
