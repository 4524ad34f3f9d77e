"""Interrupt and exception entry stubs, found by Linux's names and read like the syscall entry.

Linux names its IDT stubs `asm_exc_<name>` (one per exception vector) and sends device
interrupts through `asm_common_interrupt` (the vector pushed into pt_regs->orig_ax by
`irq_entries_start`). Each stub builds pt_regs and calls a C handler; the probe sits on that
call, where pt_regs is complete, exactly like the syscall entry's dispatch call.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracer.image import ElfImage, EntryPath, ImageError, analyze_syscall_entry

# Linux's exception stub names (arch/x86/include/asm/idtentry.h) -> vector.
EXCEPTION_VECTORS: dict[str, int] = {
    "divide_error": 0, "debug": 1, "nmi": 2, "int3": 3, "overflow": 4, "bounds": 5,
    "invalid_op": 6, "device_not_available": 7, "double_fault": 8,
    "coproc_segment_overrun": 9, "invalid_tss": 10, "segment_not_present": 11,
    "stack_segment": 12, "general_protection": 13, "page_fault": 14,
    "spurious_interrupt_bug": 15, "coprocessor_error": 16, "alignment_check": 17,
    "machine_check": 18, "simd_coprocessor_error": 19, "virtualization_exception": 20,
    "control_protection": 21, "hypervisor_injection": 28, "vmm_communication": 29,
    "security_exception": 30,
}  # fmt: skip
VECTOR_NAMES: dict[int, str] = {
    0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM", 8: "#DF",
    9: "coproc-overrun", 10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF", 16: "#MF",
    17: "#AC", 18: "#MC", 19: "#XM", 20: "#VE", 21: "#CP", 28: "#HV", 29: "#VC", 30: "#SX",
}  # fmt: skip
ERROR_CODE_VECTORS = frozenset({8, 10, 11, 12, 13, 14, 17, 21, 29, 30})
DEVICE_STUBS = ("asm_common_interrupt", "asm_spurious_interrupt")


def vector_name(vector: int | None) -> str:
    if vector is None:
        return "?"
    if vector in VECTOR_NAMES:
        return VECTOR_NAMES[vector]
    return f"irq{vector}" if vector >= 32 else f"exception{vector}"


@dataclass(frozen=True)
class InterruptStub:
    name: str
    vector: int | None  # None: read from pt_regs->orig_ax (device interrupts)
    path: EntryPath

    @property
    def has_error_code(self) -> bool:
        return self.vector in ERROR_CODE_VECTORS


def find_interrupt_stubs(image: ElfImage) -> list[InterruptStub]:
    """Every stub with a recognisable name whose path reaches a handler call."""
    stubs = []
    for symbol in image.symbols:
        name = symbol.name
        if name.startswith("asm_exc_"):
            vector = EXCEPTION_VECTORS.get(name[len("asm_exc_") :])
            if vector is None and name.startswith("asm_exc_reserved_"):
                continue
        elif name in DEVICE_STUBS or name.startswith("asm_sysvec_"):
            vector = None
        else:
            continue
        try:
            path = analyze_syscall_entry(image, symbol.addr)
        except ImageError:
            continue
        if path.dispatch_call is not None:
            stubs.append(InterruptStub(name, vector, path))
    return stubs
