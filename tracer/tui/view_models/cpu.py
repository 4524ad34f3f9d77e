"""The CPU panel's rows: RIP and ring, CR3, the syscall MSRs decoded, the bases with owners."""

from __future__ import annotations

from dataclasses import dataclass

from tracer.decode.msr import CSTAR, IA32_SYSENTER_EIP, LSTAR, msr_name
from tracer.events import Symbolizer
from tracer.image.trace_kernel import running_symbolizer
from tracer.tui.view_models.moment import BASES, CpuBases, Moment, changed
from tracer.tui.view_models.rows import msr_detail

BASE_LABELS = {"fs": "FS base", "gs": "GS base", "kgs": "KERNEL_GS_BASE"}
# MSRs holding code addresses: where the running kernel is, so KASLR's slide applies to them.
CODE_MSRS = frozenset({LSTAR, CSTAR, IA32_SYSENTER_EIP})


@dataclass(frozen=True, slots=True)
class CpuRow:
    key: str
    name: str
    value: str  # 16 hex digits, or "not recorded"
    detail: str  # symbol, decoded fields or owner
    source: str  # where the value comes from: "wrmsr #12", "at syscall entry #40"
    changed: bool = False
    known: bool = True


def hex64(value: int) -> str:
    return f"{value:016x}"


def _source(how: str, seq: int | None) -> str:
    how = how.removeprefix("at syscall ").replace(", inferred", "?")
    return how if seq is None else f"{how} #{seq}"


def cpu_rows(
    now: Moment, before: Moment | None, symbolize: Symbolizer | None = None, kaslr_slide: int = 0
) -> list[CpuRow]:
    """`kaslr_slide`: how far the kernel ran from its link address (MSR values are runtime
    addresses; the probes' pcs were moved back at capture)."""
    diff = changed(now, before)
    code_symbolize = running_symbolizer(symbolize, kaslr_slide)
    rows = []
    if now.rip is None:
        rows.append(CpuRow("rip", "RIP", "not recorded", "this event has no pc", "", known=False))
    else:
        symbol = symbolize(now.rip) if symbolize else None
        ring = f"ring {now.ring}" if now.ring is not None else "ring ?"
        ring += f" ({now.ring_how})" if now.ring_how else ""
        detail = f"{symbol}  {ring}" if symbol else ring
        rows.append(
            CpuRow(
                "rip", "RIP", hex64(now.rip), detail, "probe pc", "rip" in diff or "ring" in diff
            )
        )
    if now.cr3 is None:
        rows.append(CpuRow("cr3", "CR3", "not recorded", "", "", known=False))
    else:
        rows.append(CpuRow("cr3", "CR3", hex64(now.cr3), now.process, "last stop", "cr3" in diff))
    for msr, value in now.msrs.items():
        key = f"msr:{msr:#x}"
        name = msr_name(msr)
        if value is None:
            rows.append(
                CpuRow(key, name, "not recorded", "no wrmsr or rdmsr before this", "", known=False)
            )
            continue
        detail = msr_detail(msr, value.value, code_symbolize if msr in CODE_MSRS else symbolize)
        rows.append(
            CpuRow(
                key, name, hex64(value.value), detail, _source(value.how, value.seq), key in diff
            )
        )
    for which in BASES:
        base = now.bases[which]
        if base.value is None:
            rows.append(CpuRow(which, BASE_LABELS[which], "not recorded", "", "", known=False))
            continue
        owner = base.owner or "owner unknown"
        rows.append(
            CpuRow(
                which,
                BASE_LABELS[which],
                hex64(base.value),
                owner,
                _source(base.how, base.seq),
                which in diff,
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class CpuCell:
    """One CPU's value in the every-CPU table: 16 hex digits (or "not recorded") and whose."""

    value: str
    owner: str = ""
    known: bool = True


def every_cpu_rows(entries: list[CpuBases]) -> list[tuple[str, list[CpuCell]]]:
    """The every-CPU table, a row per base and a column per CPU: (row name, a cell per CPU)."""
    rows = [
        ("task", [CpuCell(entry.process or "?", known=entry.pid is not None) for entry in entries])
    ]
    for which in BASES:
        cells = []
        for entry in entries:
            base = entry.bases[which]
            if base.value is None:
                cells.append(CpuCell("not recorded", known=False))
            else:
                cells.append(CpuCell(hex64(base.value), base.owner or "owner unknown"))
        rows.append((BASE_LABELS[which], cells))
    return rows


VCPU_LABELS = (("rip", "RIP"), ("cr3", "CR3"), ("fs_base", "FS base"), ("gs_base", "GS base"),
               ("k_gs_base", "KERNEL_GS_BASE"))  # fmt: skip


def vcpu_rows(
    vcpus: dict[int, dict[str, int]], symbolize: Symbolizer | None = None
) -> list[tuple[str, list[CpuCell]]]:
    """Live, paused: every vCPU's registers as gdb reads them now, a column per CPU (RIP with
    its symbol)."""
    rows = []
    for register, label in VCPU_LABELS:
        cells = []
        for cpu in sorted(vcpus):
            value = vcpus[cpu].get(register)
            if value is None:
                cells.append(CpuCell("not read", known=False))
                continue
            symbol = symbolize(value) if symbolize and register == "rip" else None
            cells.append(CpuCell(hex64(value), symbol or ""))
        rows.append((label, cells))
    return rows
