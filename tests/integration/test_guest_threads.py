"""Threads and several CPUs in the guest: static glibc and musl pthread programs, exit_group,
a thread's fault, the ground-truth log per CPU and thread, and the fuzzer with threads.

Each test boots its own QEMU through qemu/boot; the ground-truth log is read only to check
the kernel itself.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from test_guest import BOOT, PANIC, USER, Boot, boot, built  # noqa: F401

pytestmark = pytest.mark.qemu  # every test boots the guest

PTHREAD_OUTPUT = [
    "pthread: start",
    "worker 1: __thread sum 55, returned 100",
    "worker 2: __thread sum 210, returned 200",
    "worker 3: __thread sum 465, returned 300",
    "pthread_exit: 42",
    "condvar: 200 items, sum 20100",
    "cond_timedwait: timed out",
    "futex: timeout and EAGAIN",
    "clone/futex errors: checked",
    "contention: 4 threads x 5000 rounds: futex lock 20000, mutex 20000, __thread ok",
    "pthread: OK",
]
SIGSEGV = 11


def boot_smp(cpus: int, *programs: list, **kwargs) -> Boot:  # noqa: ANN003
    return boot(*programs, smp=cpus, **kwargs)


def of(run: Boot, ev: str) -> list[dict]:
    return [e for e in run.gtlog if e["ev"] == ev]


@pytest.mark.parametrize("cpus", [1, 2, 4])
@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_pthread_program_prints_what_it_prints_natively(built: None, libc: str, cpus: int) -> None:
    program = USER / f"pthread-{libc}"
    if not program.exists():
        pytest.skip(f"{program.name} not built (musl-gcc missing?)")
    native = subprocess.run([program, "4", "5000"], capture_output=True, text=True, timeout=60)
    assert native.stdout.splitlines() == PTHREAD_OUTPUT  # the host agrees with the table
    run = boot_smp(cpus, [program, "4", "5000"], timeout=120)
    assert run.status == 0, run.console
    assert [line for line in run.console.splitlines() if line in PTHREAD_OUTPUT] == PTHREAD_OUTPUT


@pytest.mark.parametrize("scheme", ["linux", "osv", "gs"])
def test_each_thread_runs_on_its_own_tcb_on_two_cpus(
    built: None, tmp_path: Path, scheme: str
) -> None:
    run = boot_smp(
        2,
        [USER / "pthread-glibc", "4", "1000"],
        [USER / "pthread-musl", "4", "1000"],
        gtlog=tmp_path / "gt.log",
        cmdline=f"tls={scheme} sched=parallel",
        timeout=180,
    )
    assert run.status == 0, run.console
    assert run.console.count("pthread: OK") == 2
    assert not of(run, "tls_mismatch")
    starts = of(run, "thread_start")
    assert {e["pid"] for e in starts} == {1, 2}
    tids = {e["tid"] for e in starts}
    assert len(tids) == len(starts) >= 2 * 8  # every pthread_create a new thread id
    # each thread's FS is its own TCB (the fs_base clone3 / clone gave it)
    tcbs = {(e["pid"], e["fs_base"]) for e in starts}
    assert len(tcbs) >= 8 and all(fs for _, fs in tcbs)
    owners = {e["new_owner"] for e in of(run, "tls_switch") if e["which"] == "fs"}
    assert any(owner.startswith("app-tcb[pid 1 tid ") for owner in owners), owners
    # every line says its CPU; both CPUs ran syscalls of threads that moved between them
    assert all(e["cpu"] in (0, 1) for e in run.gtlog if "cpu" in e and e["ev"] != "ftrace")
    cpus_of = defaultdict(set)
    for e in of(run, "syscall_entry"):
        cpus_of[e["tid"]].add(e["cpu"])
    assert set().union(*cpus_of.values()) == {0, 1}
    # each CPU's GS base is its own per-CPU area
    areas = {e["cpu"]: e["new"] for e in of(run, "tls_switch") if e["which"] == "gs"}
    assert len(areas) == 2 and len(set(areas.values())) == 2
    exits = {e["pid"]: e["status"] for e in of(run, "process_exit")}
    assert exits == {1: 0, 2: 0}


def test_broken_scheme_is_caught_on_two_cpus(built: None, tmp_path: Path) -> None:
    run = boot_smp(
        2,
        [USER / "pthread-musl", "2", "100"],
        gtlog=tmp_path / "gt.log",
        cmdline="tls=broken",
        timeout=120,
    )
    assert run.status != 0 and run.status != PANIC, run.console
    assert "pthread: OK" not in run.console
    assert of(run, "tls_mismatch")


@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_exit_group_ends_threads_in_every_state(built: None, tmp_path: Path, libc: str) -> None:
    run = boot_smp(
        2, [USER / f"pthread-{libc}", "exit_group"], [USER / "hello-musl"], gtlog=tmp_path / "gt"
    )
    assert run.status == 5, run.console
    assert "Hello, world!" in run.console  # the next program ran: nothing was left behind
    ended = {e["tid"] for e in of(run, "thread_exit") if e["pid"] == 1}
    started = {e["tid"] for e in of(run, "thread_start") if e["pid"] == 1}
    assert started and started | {1} == ended


def test_a_faulting_thread_ends_its_process(built: None) -> None:
    run = boot_smp(2, [USER / "pthread-glibc", "crash"], [USER / "hello-glibc"])
    assert run.status == 128 + SIGSEGV, run.console
    assert "killed by #PF" in run.console and "Hello, world!" in run.console


def test_fuzzer_with_threads_on_four_cpus(built: None) -> None:
    run = boot_smp(4, [USER / "fuzzer", "100000", "7", "4"], [USER / "hello-glibc"], timeout=300)
    assert run.status == 0, run.console
    assert "fuzzer: done:" in run.console and "Hello, world!" in run.console


def test_smp_out_of_range_is_a_usage_error(built: None) -> None:
    result = subprocess.run(
        [sys.executable, str(BOOT), "--no-build", "--smp", "9", str(USER / "hello-glibc")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 64
    assert "--smp must be 1..4" in result.stderr
