"""The tracer against the guest's ground-truth log on 2 and 4 vCPUs, CPU by CPU, with threads.

Both pthread programs (glibc, musl) run at once (sched=parallel) in one capture per case. On
each CPU the syscall entries and exits the tracer recorded must be the truth log's for that
CPU, in order, with the thread that made them; every thread runs on its own TCB; the GS base
at each crossing is that CPU's own per-CPU area; `tracer check` is clean, and under
tls=broken it names the CPUs the guest itself went wrong on.

Guest time follows instructions (-icount): in real time every timer tick costs the tracer stops
on every CPU, so the slower the host, the less the guest does between ticks (on a loaded machine
one 2-CPU capture of these programs, before this branch's fixes, had run 445 syscalls after 10
minutes; unloaded, without -icount, it takes about a minute). With -icount the same work takes
the same stops however loaded the machine is.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
from capture_support import KERNEL, Captured, build_guest, run_capture

from tracer.analysis.checks import run_checks
from tracer.analysis.kernel_facts import kernel_facts
from tracer.events import Event, SyscallEntry, SyscallExit
from tracer.report import strace_lines, tls_lines
from tracer.tls_owners import ARCH_SET_FS, NR_ARCH_PRCTL, OwnerKind, TlsOwners, owner_kind

pytestmark = pytest.mark.qemu

PROGRAMS = ("pthread-glibc", "pthread-musl")
# Two workers, 5 rounds of the contention test, 5 items through the condition variable (the
# default 200 made 4/5 of each capture; 20 and 20 a fifth more stops than 5 and 5): every
# phase, briefly.
ARGS = ("2", "5", "5")
ICOUNT = "shift=0,sleep=off"
APP_TCB = re.compile(r"app-tcb\[[^\]]*\]")


@pytest.fixture(scope="module", autouse=True)
def guest() -> None:
    build_guest()


def _capture(tmp: Path, scheme: str, cpus: int) -> Captured:
    return run_capture(
        tmp,
        [(name, ARGS) for name in PROGRAMS],
        cmdline=f"gtlog=1 tls={scheme} sched=parallel",
        smp=cpus,
        icount=ICOUNT,
        timeout=400,
    )


# Every scheme, two of them on 4 CPUs too (broken: its own test below). Not osv on 4 CPUs
# and gs on 2: the costliest capture (osv switches FS at every entry and exit, 8-17 s) and a
# case the others cover (per-CPU GS on 2 CPUs: linux; gs's kernel thread-locals: on 4).
@pytest.fixture(
    scope="module",
    params=[("linux", 2), ("osv", 2), ("linux", 4), ("gs", 4)],
    ids=lambda p: f"{p[0]}-{p[1]}cpu",
)
def captured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Captured:
    scheme, cpus = request.param
    return _capture(tmp_path_factory.mktemp(f"{scheme}{cpus}"), scheme, cpus)


def _per_cpu(events: list[Event], kind: type) -> dict[int, list]:
    out: dict[int, list] = defaultdict(list)
    for event in events:
        if isinstance(event, kind):
            out[event.cpu].append(event)
    return out


def _truth_per_cpu(truth: list[dict], ev: str) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = defaultdict(list)
    for line in truth:
        if line["ev"] == ev:
            out[line["cpu"]].append(line)
    return out


def test_both_programs_ran_to_the_end(captured: Captured) -> None:
    assert captured.result.error is None
    assert captured.result.reason == "guest-exit"
    assert captured.result.guest_status == 0, captured.result.console[-2000:]
    assert captured.result.console.count("pthread: OK") == 2


def test_syscall_entries_per_cpu_equal_truth(captured: Captured) -> None:
    mine, truth = (
        _per_cpu(captured.events, SyscallEntry),
        _truth_per_cpu(captured.truth, "syscall_entry"),
    )
    assert len(truth) >= 2 and set(mine) == set(truth)  # every CPU ran syscalls
    for cpu, want in truth.items():
        got = mine[cpu]
        assert len(got) == len(want), f"cpu{cpu}"
        for event, line in zip(got, want, strict=True):
            assert (event.pid, event.nr & 0xFFFFFFFF) == (line["tid"], line["nr"]), (cpu, line)
            assert list(event.args) == line["args"]
            assert (event.user_rip, event.user_rsp) == (line["rip"], line["rsp"])
            assert dict(event.regs) == line["regs"], f"cpu{cpu}: pt_regs differ for {line}"
    # threads moved between CPUs: some thread made syscalls on more than one
    cpus_of: dict[int, set[int]] = defaultdict(set)
    for cpu, lines in truth.items():
        for line in lines:
            cpus_of[line["tid"]].add(cpu)
    assert any(len(cpus) > 1 for cpus in cpus_of.values())


def test_syscall_exits_per_cpu_equal_truth(captured: Captured) -> None:
    """A blocked futex wait ends on whichever CPU the thread runs on next, after other threads
    of its process made syscalls meanwhile: each exit still ends its own thread's call."""
    mine, truth = (
        _per_cpu(captured.events, SyscallExit),
        _truth_per_cpu(captured.truth, "syscall_exit"),
    )
    entries = {e.seq: e for e in captured.events if isinstance(e, SyscallEntry)}
    for cpu, want in truth.items():
        got = [(e.pid, e.nr & 0xFFFFFFFF, e.ret) for e in mine[cpu]]
        assert got == [(t["tid"], t["nr"], t["ret"]) for t in want], f"cpu{cpu}"
    for exit_ in (e for events in mine.values() for e in events):
        entry = entries[exit_.entry_seq]
        assert (entry.pid, entry.nr) == (exit_.pid, exit_.nr)


def _own_tcbs(truth: list[dict]) -> dict[int, int]:
    """Each thread's TCB as the guest knows it: clone's TLS for workers, arch_prctl for the
    main threads."""
    tcbs = {line["tid"]: line["fs_base"] for line in truth if line["ev"] == "thread_start"}
    for line in truth:
        if line["ev"] == "syscall_entry" and line["nr"] == NR_ARCH_PRCTL:
            if line["args"][0] == ARCH_SET_FS:
                tcbs.setdefault(line["tid"], line["args"][1])
    return tcbs


def test_each_thread_owns_its_tcb(captured: Captured) -> None:
    """At every return to user space FS holds the thread's own TCB, named as that thread's."""
    tcbs = _own_tcbs(captured.truth)
    workers = {line["tid"] for line in captured.truth if line["ev"] == "thread_start"}
    assert len(workers) >= 2 * len(PROGRAMS)
    owners = TlsOwners()
    seen: dict[int, str] = {}
    has_tcb = set(workers)  # a main thread from its arch_prctl(ARCH_SET_FS) on
    set_fs = set()
    for event in captured.events:
        owners.learn(event)
        if isinstance(event, SyscallEntry) and event.nr == NR_ARCH_PRCTL:
            if event.args[0] == ARCH_SET_FS:
                set_fs.add(event.seq)
        if not isinstance(event, SyscallExit):
            continue
        if event.entry_seq in set_fs:
            has_tcb.add(event.pid)
        if event.pid not in has_tcb:
            continue  # before the libc set its TCB (FS is 0, or the kernel's under osv)
        assert event.bases.fs_base == tcbs[event.pid], event
        label = owners.owner(event.bases.fs_base, "fs", event.pid)
        assert owner_kind(label) == OwnerKind.APP_TCB, (label, event)
        if event.pid in workers:
            assert label.endswith(f" tid {event.pid}]"), (label, event)
        else:
            assert label.endswith(f":{event.pid}]"), (label, event)
        seen[event.pid] = label
    assert set(seen) == set(tcbs)
    assert len(set(seen.values())) == len(seen)  # no two threads share an owner


def test_gs_base_at_every_crossing_is_that_cpus_area(captured: Captured) -> None:
    areas = {
        line["cpu"]: line["new"]
        for line in captured.truth
        if line["ev"] == "tls_switch" and line["which"] == "gs" and line["cause"] == "boot"
    }
    assert len(set(areas.values())) == len(areas) >= 2
    owners = TlsOwners()
    for event in captured.events:
        owners.learn(event)
        if isinstance(event, SyscallEntry):
            value = event.bases.gs_base
        elif isinstance(event, SyscallExit):
            value = event.bases.kernel_gs_base  # after the exit's swapgs
        else:
            continue
        assert value == areas[event.cpu], event
        assert owners.owner(value, "gs", event.pid) == f"{OwnerKind.PERCPU}[cpu{event.cpu}]"


def test_check_is_clean(captured: Captured) -> None:
    facts, symbolize = kernel_facts(KERNEL, {})
    assert run_checks(captured.events, facts, symbolize) == []


def test_broken_is_caught_on_the_cpu_it_happens_on(tmp_path: Path) -> None:
    """Both programs at once: the CPUs run kernel code on an app's TCB. Every finding at a
    syscall entry names the CPU and thread the truth log has at that place in that CPU's
    sequence, and every CPU the guest itself caught a mismatch on is among the findings'
    (which CPUs those are varies from run to run)."""
    captured = _capture(tmp_path, "broken", 2)
    assert captured.result.error is None and captured.result.guest_status != 0
    facts, symbolize = kernel_facts(KERNEL, {})
    findings = run_checks(captured.events, facts, symbolize)
    assert findings and {f.rule for f in findings} == {"kernel-on-app-tcb"}
    mismatches = [line for line in captured.truth if line["ev"] == "tls_mismatch"]
    assert mismatches
    assert {line["cpu"] for line in mismatches} <= {f.cpu for f in findings}
    first = mismatches[0]
    assert any((f.cpu, f.pid) == (first["cpu"], first["tid"]) for f in findings)

    truth = _truth_per_cpu(captured.truth, "syscall_entry")
    index = {
        e.seq: (e.cpu, n)
        for events in _per_cpu(captured.events, SyscallEntry).values()
        for n, e in enumerate(events)
    }
    at_entries = [f for f in findings if f.seq in index]
    assert at_entries
    for finding in at_entries:
        cpu, n = index[finding.seq]
        assert finding.cpu == cpu
        assert truth[cpu][n]["tid"] == finding.pid, finding
    # only where a thread entered the kernel on its app TCB: a worker (its TCB from clone) or a
    # main thread after its arch_prctl(ARCH_SET_FS)
    on_app_tcb, set_fs = set(), set()
    for line in captured.truth:
        if line["ev"] == "syscall_entry":
            if line["tid"] != line["pid"] or line["pid"] in set_fs:
                on_app_tcb.add(line["cpu"])
            if line["nr"] == NR_ARCH_PRCTL and line["args"][0] == ARCH_SET_FS:
                set_fs.add(line["pid"])
    assert {f.cpu for f in at_entries} <= on_app_tcb


def test_report_shows_every_cpu_the_clones_and_each_threads_tcb(captured: Captured) -> None:
    """What issue 12 asks a person to see: both CPUs, clone3/clone with CLONE_SETTLS decoded,
    and in the TLS report each thread's TCB as an owner (main thread and workers)."""
    lines = list(strace_lines(captured.events))  # pthread.c's short clone3 must not stop it
    cpus = {line[len("[cpu") : line.index(" ")] for line in lines if line.startswith("[cpu")}
    assert cpus == {str(cpu) for cpu in _truth_per_cpu(captured.truth, "syscall_entry")}
    clones = [
        line for line in lines if "CLONE_SETTLS" in line and ("clone3(" in line or "clone(" in line)
    ]
    assert len(clones) >= 2 * len(PROGRAMS)
    owners = {o for line in tls_lines(captured.events) for o in APP_TCB.findall(line)}
    for name in PROGRAMS:
        assert len({o for o in owners if o.startswith(f"app-tcb[{name}:")}) >= 3, owners
