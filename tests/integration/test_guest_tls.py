"""The guest's TLS schemes under preemption: two __thread programs and a kernel thread at once.

Each scheme boots `tls=<scheme> sched=parallel lazymm=1` with tls-glibc and tls-musl spinning
between checks (so the timer preempts them) and the ktickd kernel thread working with
interrupts on (so it is preempted in ring 0). The ground-truth log is read here only to check
the kernel itself; the tracer must find all of it on its own.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_guest import ALL_OK, PANIC, PROCESS_FAILED, USER, Boot, boot, built  # noqa: F401

MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE = 0xC0000100, 0xC0000101, 0xC0000102
BASE_MSRS = {MSR_FS_BASE: "fs", MSR_GS_BASE: "gs", MSR_KERNEL_GS_BASE: "kgs"}
KTHREAD_TID = 1000
ROUNDS, SPIN = "30", "200000"
WORKLOAD = ([USER / "tls-glibc", ROUNDS, SPIN], [USER / "tls-musl", ROUNDS, SPIN])
ENTRY_CAUSES = ("syscall_entry", "irq_entry", "exception_entry")
EXIT_CAUSES = ("syscall_exit", "irq_exit", "exception_exit")
CAUSES = {"boot", "context_switch", "arch_prctl", "ret_from_fork", *ENTRY_CAUSES, *EXIT_CAUSES}
OWNER = re.compile(
    r"^(zero|user-gs|unknown|percpu\[cpu \d+\]|kernel-tcb\[thread \d+\]|app-tcb\[pid \d+\])$"
)

pytestmark = pytest.mark.qemu


def run_workload(tmp: Path, scheme: str, extra: str = "", profile: str = "default") -> Boot:
    if not (USER / "tls-musl").exists():
        pytest.skip("tls-musl not built (musl-gcc missing?)")
    return boot(
        *WORKLOAD,
        gtlog=tmp / f"gt-{scheme}.log",
        cmdline=f"tls={scheme} sched=parallel lazymm=1 {extra}".strip(),
        profile=profile,
        timeout=120,
    )


@dataclass
class SchemeRun(Boot):
    scheme: str = ""


@pytest.fixture(scope="module", params=["linux", "osv", "gs"])
def clean(
    built: None, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> SchemeRun:
    run = run_workload(tmp_path_factory.mktemp(request.param), request.param)
    return SchemeRun(run.status, run.console, run.gtlog, request.param)


@pytest.fixture(scope="module")
def broken(built: None, tmp_path_factory: pytest.TempPathFactory) -> Boot:
    return run_workload(tmp_path_factory.mktemp("broken"), "broken")


def of(run: Boot, kind: str) -> list[dict]:
    return [e for e in run.gtlog if e["ev"] == kind]


def kernel_tcbs(run: Boot) -> dict[int, int]:
    """tid -> kernel TCB, from process_start and kthread_start."""
    starts = of(run, "process_start") + of(run, "kthread_start")
    return {e["pid"]: e["kernel_tcb"] for e in starts}


# --- every scheme that must work ----------------------------------------------------------


def test_both_programs_pass_their_checks_with_the_kernel_thread(clean: SchemeRun) -> None:
    assert clean.status == ALL_OK, clean.console
    assert clean.console.count(f"tls: OK ({ROUNDS} rounds") == 2, clean.console
    assert of(clean, "boot")[0]["tls"] == clean.scheme
    (kthread,) = of(clean, "kthread_start")
    assert (kthread["tid"], kthread["comm"]) == (KTHREAD_TID, "ktickd")
    assert len(of(clean, "kthread_tick")) >= 3
    assert of(clean, "tls_mismatch") == [], "a thread found thread-locals that are not its own"
    assert "thread-locals not its own" not in clean.console


def test_programs_and_kernel_thread_are_interleaved(clean: SchemeRun) -> None:
    events = clean.gtlog
    first_exit = next(i for i, e in enumerate(events) if e["ev"] == "process_exit")
    switches = [(e["from"], e["to"]) for e in events[:first_exit] if e["ev"] == "context_switch"]
    pairs = Counter(switches)
    assert pairs[(1, 2)] >= 3 and pairs[(2, 1)] >= 3, pairs
    assert sum(n for (_, to), n in pairs.items() if to == KTHREAD_TID) >= 3, pairs
    # distinct address spaces: the processes' kernel TCBs and CR3s differ
    tcbs = kernel_tcbs(clean)
    assert len(set(tcbs.values())) == len(tcbs) == 3


def _preempted(run: Boot, ring: int, tid: int) -> int:
    """Timer interrupts (from `ring`, interrupting `tid`) during which tid was switched out."""
    count, inside = 0, None
    for e in run.gtlog:
        if e["ev"] == "irq_entry" and e["ring"] == ring and e["pid"] == tid:
            inside = tid
        elif e["ev"] == "context_switch" and inside is not None:
            count += e["from"] == inside and e["from_state"] == "running"
            inside = None
        elif e["ev"] == "irq_exit":
            inside = None
    return count


def test_timer_preempts_user_mode_and_the_kernel_thread(clean: SchemeRun) -> None:
    assert _preempted(clean, 3, 1) + _preempted(clean, 3, 2) >= 5
    assert _preempted(clean, 0, KTHREAD_TID) >= 1  # ktickd works with interrupts on
    ticks = [e for e in of(clean, "irq_entry") if e["vector"] == 32]
    assert {e["ring"] for e in ticks} == {0, 3}
    assert len(of(clean, "irq_entry")) == len(of(clean, "irq_exit"))


def test_lazily_mapped_pages_fault_from_ring_3(clean: SchemeRun) -> None:
    faults = [e for e in of(clean, "exception_entry") if e["vector"] == 14 and e["ring"] == 3]
    assert len(faults) >= 2 * int(ROUNDS)
    assert all(e["cr2"] < 2**47 for e in faults)
    assert len(of(clean, "exception_entry")) == len(of(clean, "exception_exit"))
    assert of(clean, "fault") == []  # none of them killed anything


def test_every_base_write_is_logged_with_cause_and_owners(clean: SchemeRun) -> None:
    """Replaying tls_switch events reproduces every FS/GS/KERNEL_GS_BASE msr_write."""
    state: dict[str, int] = {}
    pending_msr: list[dict] = []
    for e in clean.gtlog:
        if e["ev"] == "msr_write" and e["msr"] in BASE_MSRS:
            pending_msr.append(e)
        elif e["ev"] == "tls_switch":
            assert e["cause"] in CAUSES, e
            assert OWNER.match(e["old_owner"]) and OWNER.match(e["new_owner"]), e
            which = e["which"]
            if which in state:
                assert state[which] == e["old"], e
            state[which] = e["new"]
            if e["via"] == "wrmsr":
                msr = pending_msr.pop(0)
                assert (BASE_MSRS[msr["msr"]], msr["old"], msr["value"]) == (
                    which,
                    e["old"],
                    e["new"],
                ), e
    assert pending_msr == []
    assert state["gs"] == max(e["new"] for e in of(clean, "tls_switch") if e["which"] == "gs")


def test_scheme_specific_fs_switching(clean: SchemeRun) -> None:
    switches = [e for e in of(clean, "tls_switch") if e["which"] == "fs"]
    causes = Counter(e["cause"] for e in switches)
    tcbs = set(kernel_tcbs(clean).values())
    if clean.scheme == "osv":
        for cause in ENTRY_CAUSES:
            assert causes[cause] > 0, causes
        # one exit switch per entry switch: the first arch_prctl's exit has no entry switch
        # (the process ran on its kernel TCB until then), exit_group's entry has no exit
        assert causes["syscall_entry"] == causes["syscall_exit"]
        assert causes["irq_entry"] == causes["irq_exit"]
        assert causes["exception_entry"] == causes["exception_exit"]
        for e in switches:
            if e["cause"] in ENTRY_CAUSES:
                assert e["old_owner"] == f"app-tcb[pid {e['pid']}]", e
                assert e["new_owner"] == f"kernel-tcb[thread {e['pid']}]", e
            if e["cause"] in EXIT_CAUSES:
                assert e["new_owner"] == f"app-tcb[pid {e['pid']}]", e
            if e["cause"] == "context_switch":
                assert e["new_owner"].startswith("kernel-tcb"), e
    else:  # linux, gs: the kernel never loads FS for itself
        assert set(causes) <= {"boot", "arch_prctl", "context_switch"}, causes
        assert not [e for e in switches if e["new"] in tcbs]
        assert causes["arch_prctl"] == 2


def test_kernel_tls_layout_matches_the_elf(built: None, clean: SchemeRun) -> None:
    """The guest's own tp offsets are what the tracer computes from PT_TLS and STT_TLS."""
    from elftools.elf.elffile import ELFFile

    with open(USER.parent / "kernel.elf", "rb") as f:
        elf = ELFFile(f)
        (tls,) = [s for s in elf.iter_segments() if s["p_type"] == "PT_TLS"]
        aligned = -(-tls["p_memsz"] // tls["p_align"]) * tls["p_align"]
        symbols = {
            s.name: s["st_value"] - aligned
            for s in elf.get_section_by_name(".symtab").iter_symbols()
            if s["st_info"]["type"] == "STT_TLS"
        }
    (layout,) = of(clean, "kernel_tls")
    assert (layout["memsz"], layout["tp_offset"]) == (tls["p_memsz"], aligned)
    logged = {e["name"]: e["tpoff"] - 2**64 for e in of(clean, "kernel_tls_symbol")}
    assert {"tls_current", "tls_syscall_count"} <= set(logged)
    assert logged == {name: symbols[name] for name in logged}


# --- the broken scheme ---------------------------------------------------------------------


def test_broken_scheme_corrupts_the_programs_tls(broken: Boot) -> None:
    """Without the entry switch the kernel's thread-locals live in the app's TLS block: its
    syscall bookkeeping overwrites the programs' __thread data (musl: the checks fail; glibc:
    its ctype table pointer is overwritten and isprint() faults). The kernel survives."""
    assert "Kernel panic" not in broken.console
    assert "tls: OK" not in broken.console
    warned = {e["pid"] for e in of(broken, "tls_mismatch")}
    assert warned == {1, 2}
    assert re.search(r"kernel: tls: pid \d: thread-local tls_current is", broken.console)
    exits = {e["pid"]: e["status"] for e in of(broken, "process_exit")}
    assert set(exits) == {1, 2} and all(status != 0 for status in exits.values())
    # qemu/boot exits with the first failure
    assert broken.status == exits[1], broken.console
    assert of(broken, "poweroff")[-1]["code"] == PROCESS_FAILED
    assert of(broken, "kthread_start")  # ... which runs on its own kernel TCB: never warned
    # FS is never switched on entry, and does hold the app TCBs while the kernel runs
    causes = {e["cause"] for e in of(broken, "tls_switch") if e["which"] == "fs"}
    assert not causes & {*ENTRY_CAUSES, *EXIT_CAUSES}
    starts = {e["pid"] for e in of(broken, "tls_switch") if e["cause"] == "arch_prctl"}
    assert starts == {1, 2}


# --- corners -------------------------------------------------------------------------------


def test_osv_survives_fs_on_an_unmapped_page(built: None, tmp_path: Path) -> None:
    """The fs:0 check faults; the fixup treats it as an app TCB and the program goes on."""
    run = boot([USER / "crash", "badfs"], gtlog=tmp_path / "gt.log", cmdline="tls=osv")
    assert run.status == ALL_OK, run.console
    assert "crash: badfs: survived" in run.console
    ring0 = [e for e in of(run, "exception_entry") if e["ring"] == 0]
    assert ring0 and all(e["vector"] == 14 and e["cr2"] == 0x1000 for e in ring0)
    assert len(ring0) == len([e for e in of(run, "exception_exit") if e["ring"] == 0])


@pytest.mark.parametrize("scheme", ["linux", "osv", "gs", "broken"])
def test_badfs_in_every_scheme_keeps_the_kernel_up(built: None, scheme: str) -> None:
    run = boot([USER / "crash", "badfs"], [USER / "hello-musl"], cmdline=f"tls={scheme}")
    assert run.status != PANIC, run.console
    assert "Hello, world!" in run.console


def test_osv_with_wrfsbase(built: None, tmp_path: Path) -> None:
    run = run_workload(tmp_path, "osv", "wrfsbase=1")
    assert run.status == ALL_OK, run.console
    fs = [e for e in of(run, "tls_switch") if e["which"] == "fs"]
    assert len([e for e in fs if e["via"] == "wrfsbase"]) > 100
    by_wrmsr = [e for e in fs if e["via"] == "wrmsr"]
    assert {e["cause"] for e in by_wrmsr} == {"boot"}  # before CR4.FSGSBASE matters
    fs_msr = [e for e in of(run, "msr_write") if e["msr"] == MSR_FS_BASE]
    assert len(fs_msr) == len(by_wrmsr)


def test_osv_on_a_cpu_without_smap_or_fsgsbase(built: None, tmp_path: Path) -> None:
    run = run_workload(tmp_path, "osv", profile="qemu64")
    assert run.status == ALL_OK, run.console
    assert run.console.count(f"tls: OK ({ROUNDS} rounds") == 2


def test_default_boot_stays_sequential_without_kernel_thread(built: None, tmp_path: Path) -> None:
    run = boot(
        [USER / "tls-glibc", "20", "100000"], [USER / "hello-glibc"], gtlog=tmp_path / "gt.log"
    )
    assert run.status == ALL_OK, run.console
    boot_event = of(run, "boot")[0]
    assert (boot_event["tls"], boot_event["sched"], boot_event["kthread"]) == (
        "linux",
        "sequential",
        0,
    )
    assert of(run, "kthread_start") == []
    kinds = [
        (e["ev"], e.get("pid")) for e in run.gtlog if e["ev"] in ("process_start", "process_exit")
    ]
    assert kinds == [
        ("process_start", 1),
        ("process_exit", 1),
        ("process_start", 2),
        ("process_exit", 2),
    ]
    assert {e["cause"] for e in of(run, "tls_switch")} <= {"boot", "arch_prctl", "context_switch"}
