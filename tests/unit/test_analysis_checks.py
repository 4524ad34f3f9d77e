"""The invariant checker and TLS ownership on hand-made event streams."""

from __future__ import annotations

from tracer.analysis.checks import KernelFacts, run_checks, star_problems
from tracer.analysis.tls import TlsOwners
from tracer.decode.tls import TlsVariable, decode_tls_block
from tracer.events import (
    ContextSwitch,
    MsrRead,
    MsrWrite,
    ProcessEvent,
    SegBaseChange,
    SegBases,
    SegCause,
    SyscallEntry,
    SyscallExit,
)

PERCPU = 0xFFFF_FFFF_8011_70C0
KTCB = 0xFFFF_8880_0020_0000
APP = 0x4AC380
GOOD_REGS = (
    ("cx", 0x401000),
    ("r11", 0x246),
    ("ip", 0x401000),
    ("flags", 0x246),
    ("sp", 0x7FFF0000),
    ("cs", 0x33),
    ("orig_ax", 39),
)
# Linux's GDT: null, (unused), kernel CS 64-bit, kernel DS, user32 CS, user DS, user CS 64.
GDT = b"".join(
    x.to_bytes(8, "little")
    for x in (
        0,
        0,
        0x00AF9B000000FFFF,
        0x00CF93000000FFFF,
        0x00CFFB000000FFFF,
        0x00CFF3000000FFFF,
        0x00AFFB000000FFFF,
    )
)
STAR = (0x23 << 48) | (0x10 << 32)


def _entry(
    seq: int, fs: int, gs: int = PERCPU, nr: int = 39, args=(0,) * 6, regs=GOOD_REGS
) -> SyscallEntry:
    return SyscallEntry(
        seq,
        seq,
        0,
        1,
        0x1000,
        nr,
        tuple(args),
        0x401000,
        0x7FFF0000,
        0x246,
        0,
        regs,
        SegBases(fs, gs, 0),
        0xFFFFFFFF80106063,
    )


def _exit(seq: int, fs: int, gs: int = 0, rip: int = 0x401000) -> SyscallExit:
    return SyscallExit(
        seq,
        seq,
        0,
        1,
        0x1000,
        39,
        0,
        seq - 1,
        rip,
        0x7FFF0000,
        0x246,
        GOOD_REGS,
        SegBases(fs, gs, PERCPU),
        0xFFFFFFFF801060EE,
    )


def _prelude() -> list:
    return [
        MsrWrite(1, 1, 0, 0, 0xC0000101, 0, PERCPU, 0),
        ProcessEvent(2, 2, 0, 1, 0x1000, "start", "tls"),
        _entry(3, 0, nr=158, args=(0x1002, APP, 0, 0, 0, 0)),
        SegBaseChange(4, 4, 0, 1, "fs", 0, APP, SegCause.ARCH_PRCTL, 0),
        _exit(5, APP),
    ]


def test_clean_linux_style_trace_has_no_findings() -> None:
    events = _prelude() + [_entry(6, APP), _exit(7, APP)]
    assert run_checks(events, KernelFacts(uses_fs=False, gdt=GDT)) == []


def test_kernel_on_app_tcb_is_found_where_the_kernel_uses_fs() -> None:
    events = _prelude() + [_entry(6, APP), _exit(7, APP)]
    findings = run_checks(
        events, KernelFacts(uses_fs=True, fs_functions=frozenset({"f"}), uses_fs_always=True)
    )
    assert [f.rule for f in findings] == ["kernel-on-app-tcb"]
    assert findings[0].seq == 6 and "app-tcb[tls:1]" in findings[0].message


def test_kernel_that_never_loads_a_kernel_tcb_does_not_use_fs() -> None:
    events = _prelude() + [_entry(6, APP), _exit(7, APP)]
    assert run_checks(events, KernelFacts(uses_fs=True)) == []
    with_ktcb = [
        SegBaseChange(0, 0, 0, 0, "fs", 0, KTCB, SegCause.CONTEXT_SWITCH, 0),
        SegBaseChange(0, 0, 0, 0, "fs", KTCB, 0, SegCause.CONTEXT_SWITCH, 0),
    ]
    findings = run_checks(with_ktcb + events, KernelFacts(uses_fs=True))
    assert [f.seq for f in findings] == [6]


def test_osv_style_switch_to_kernel_tcb_is_clean() -> None:
    events = _prelude() + [
        SegBaseChange(6, 6, 0, 1, "fs", APP, KTCB, SegCause.SYSCALL_ENTRY, 0),
        _entry(7, KTCB),
        SegBaseChange(8, 8, 0, 1, "fs", KTCB, APP, SegCause.SYSCALL_EXIT, 0),
        _exit(9, APP),
    ]
    # arch_prctl itself entered with FS still zero: no app TCB yet, so nothing to report.
    assert run_checks(events, KernelFacts(uses_fs=True)) == []


def test_swapgs_missing_or_doubled() -> None:
    events = _prelude() + [_entry(6, APP, gs=0), _exit(7, APP, gs=PERCPU)]
    rules = [f.rule for f in run_checks(events, KernelFacts())]
    assert rules == ["gs-not-percpu-in-kernel", "gs-percpu-in-user"]


def test_pt_regs_that_disagree_with_syscall_registers() -> None:
    bad = tuple((k, 0x401002 if k == "ip" else v) for k, v in GOOD_REGS)
    findings = run_checks(_prelude() + [_entry(6, APP, regs=bad)], KernelFacts())
    assert [f.rule for f in findings] == ["pt-regs-mismatch"]
    assert "ip 0x401002 != RCX 0x401000" in findings[0].message


def test_noncanonical_sysret_fmask_star_and_unknown_change() -> None:
    events = _prelude() + [
        _exit(6, APP, rip=0x0000_8000_0000_0000),
        MsrWrite(7, 7, 0, 0, 0xC0000084, None, 0x200, 0),  # IF only
        MsrRead(8, 8, 0, 0, 0xC0000081, (0x2B << 48) | (0x10 << 32), 0),
        SegBaseChange(9, 9, 0, 1, "fs", APP, 0x1234, SegCause.UNKNOWN, 0, True),
    ]
    rules = [f.rule for f in run_checks(events, KernelFacts(gdt=GDT))]
    assert rules == [
        "sysret-noncanonical",
        "fmask-incomplete",
        "star-gdt-mismatch",
        "star-gdt-mismatch",
        "unknown-base-change",
    ]


def test_star_against_linux_gdt() -> None:
    assert star_problems(STAR, GDT) == []
    assert star_problems(0x18 << 32 | 0x23 << 48, GDT)  # kernel CS pointing at data


def test_owners_from_what_the_trace_shows() -> None:
    owners = TlsOwners()
    for event in _prelude():
        owners.learn(event)
    owners.learn(ContextSwitch(6, 6, 0, 1, 2, "tls", "kthread", 0))
    owners.learn(SegBaseChange(7, 7, 0, 2, "fs", APP, KTCB, SegCause.CONTEXT_SWITCH, 0))
    assert owners.owner(PERCPU) == "percpu[cpu0]"
    assert owners.owner(APP) == "app-tcb[tls:1]"
    assert owners.owner(KTCB) == "kernel-tcb[thread 2]"
    assert owners.owner(0) == "zero"
    assert owners.owner(0x5555) == "unknown"


def test_tls_block_decoding() -> None:
    tp = 0x4AC380
    span = 32
    data = bytearray(span + 8)
    data[span - 16 : span - 8] = (0x1122).to_bytes(8, "little")
    data[span - 4 : span] = (7).to_bytes(4, "little")
    data[span:] = tp.to_bytes(8, "little")
    block = decode_tls_block(
        tp,
        bytes(data),
        span,
        [TlsVariable("a", -16, 8), TlsVariable("b", -4, 4), TlsVariable("far", -64, 8)],
    )
    assert block.self_pointer_ok
    assert block.values == (("a", 0x1122), ("b", 7), ("far", None))
    assert decode_tls_block(tp, None, span, [TlsVariable("a", -16, 8)]).values == (("a", None),)
