"""Per-CPU rules of the checker on hand-made two-CPU event streams."""

from __future__ import annotations

from dataclasses import replace

from test_analysis_checks import APP, PERCPU, _entry, _exit, _prelude

from tracer.analysis.checks import KernelFacts, percpu_cpu, run_checks
from tracer.events import MsrWrite

PERCPU1 = PERCPU + 0x1000


def two_cpus() -> list:
    return [MsrWrite(0, 0, 1, 0, 0xC0000101, 0, PERCPU1, 0), *_prelude()]


def test_each_cpu_on_its_own_percpu_area_is_clean() -> None:
    events = [
        *two_cpus(),
        replace(_entry(6, APP, gs=PERCPU1), cpu=1),
        replace(_exit(7, APP), cpu=1),
    ]
    assert run_checks(events, KernelFacts()) == []


def test_a_cpu_on_another_cpus_percpu_area_is_reported() -> None:
    events = [*two_cpus(), replace(_entry(6, APP, gs=PERCPU), cpu=1)]
    findings = run_checks(events, KernelFacts())
    assert [(f.rule, f.cpu, f.seq) for f in findings] == [("gs-other-cpu-percpu", 1, 6)]
    assert "cpu1" in findings[0].message and "cpu0's per-CPU area" in findings[0].message


def test_percpu_labels_name_their_cpu() -> None:
    assert percpu_cpu("percpu[cpu3]") == 3
    assert percpu_cpu("percpu[cpux]") is None and percpu_cpu("app-tcb[x:1]") is None


def test_a_percpu_area_read_at_the_first_stop_is_known_without_its_write() -> None:
    # A Linux capture starts after the boot: KERNEL_GS_BASE read at /init's first syscall.
    from tracer.events import MsrRead

    events = [MsrRead(1, 1, 0, 0, 0xC0000102, PERCPU, 0), *_prelude()[1:], _entry(6, APP)]
    assert run_checks(events, KernelFacts()) == []


def test_a_thread_made_with_clone_settls_owns_its_tcb() -> None:
    from tracer.events import ProcessEvent, SegBases, SyscallEntry
    from tracer.tls_owners import TlsOwners

    tcb = 0x7FFF_F7FF_C6C0
    args = (0x80000 | 0x100 | 0x10000).to_bytes(8, "little") + bytes(48) + tcb.to_bytes(8, "little")
    entry = SyscallEntry(
        2, 2, 0, 1, 0x1000, 435, (0x7FFF0000, 88, 0, 0, 0, 0), 0x401000, 0x7FFF0000, 0x246,
        0, (), SegBases(APP, PERCPU, 0), 0, ((0, args + bytes(16)),),
    )  # fmt: skip
    exit_ = replace(_exit(3, APP), nr=435, ret=2, entry_seq=2)
    owners = TlsOwners()
    for event in (ProcessEvent(1, 1, 0, 1, 0x1000, "start", "worker"), entry, exit_):
        owners.learn(event)
    assert owners.owner(tcb, "fs", 2) == "app-tcb[worker:1 tid 2]"
    assert owners.owner(tcb, "fs", 1) == "app-tcb[worker:1 tid 2]"
