"""The entry-path tab's lines: what the tracer knows of each instruction of the built-in
guest's syscall entry, and where a capture took its syscalls by watchpoints (its meta)."""

from __future__ import annotations

from pathlib import Path

from tracer.decode.ptregs import LINUX_PT_REGS_FIELDS
from tracer.image import ElfImage, analyze_syscall_entry
from tracer.tui.view_models.entry_path import entry_lines, watched_sites

KERNEL = Path(__file__).parent / "fixtures" / "kernel.elf"


def _lines(meta: dict[str, str], pc: int | None = None) -> dict[int, tuple[str, ...]]:
    image = ElfImage.open(KERNEL)
    path = analyze_syscall_entry(image, image.symbol("entry_SYSCALL_64").addr)  # type: ignore[union-attr]
    lines = entry_lines(path, LINUX_PT_REGS_FIELDS, pc, image.symbolize, watched_sites(meta))
    return {line.addr: line.marks for line in lines if line.addr is not None}


def test_a_capture_by_watchpoints_marks_its_call_and_each_way_outs_stop() -> None:
    image = ElfImage.open(KERNEL)
    sysret = image.symbol("syscall_return_via_sysret").addr  # type: ignore[union-attr]
    iret = image.symbol("swapgs_restore_regs_and_return_to_usermode").addr  # type: ignore[union-attr]
    plain = _lines({})
    call = next(addr for addr, marks in plain.items() if any("syscall entry" in m for m in marks))
    meta = {"watch_call": f"{call:#x}", "watch_exits": f"{sysret + 2:#x} {iret + 2:#x}"}
    watched = _lines(meta)
    assert watched[call][0] == "WATCH its return address (stops in the dispatcher)"
    assert watched[call][1:] == plain[call]
    for stop in (sysret + 2, iret + 2):  # after each way's `pop r15`
        assert watched[stop] == ("WATCH syscall exit: the pop before read pt_regs.r15",)
        assert plain[stop] == ()
    sysretq = next(a for a, marks in watched.items() if any("(sysretq)" in m for m in marks))
    assert watched[sysretq] == ("PROBE syscall exit (sysretq) (waits unarmed: exits are watched)",)
    assert plain[sysretq] == ("PROBE syscall exit (sysretq)",)


def test_watched_sites_come_from_the_meta_or_are_none() -> None:
    assert watched_sites({}) == frozenset()
    assert watched_sites({"watch_call": "0x10", "watch_exits": "0x20 0x30"}) == {0x10, 0x20, 0x30}
    assert watched_sites({"watch_call": "zz"}) == frozenset()  # a damaged value: no marks
