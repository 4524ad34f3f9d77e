"""Model-specific registers: names, and decoders for the values a kernel writes to them.

Also RFLAGS bits (for FMASK, the flags `syscall` clears) and segment selectors (for STAR and
SYSENTER_CS), both needed to read those MSRs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from tracer.events import Symbolizer

IA32_EFER: Final = 0xC0000080
STAR: Final = 0xC0000081
LSTAR: Final = 0xC0000082
CSTAR: Final = 0xC0000083
FMASK: Final = 0xC0000084
FS_BASE: Final = 0xC0000100
GS_BASE: Final = 0xC0000101
KERNEL_GS_BASE: Final = 0xC0000102
TSC_AUX: Final = 0xC0000103
IA32_APIC_BASE: Final = 0x1B
IA32_SPEC_CTRL: Final = 0x48
IA32_SYSENTER_CS: Final = 0x174
IA32_SYSENTER_ESP: Final = 0x175
IA32_SYSENTER_EIP: Final = 0x176
IA32_MISC_ENABLE: Final = 0x1A0
IA32_PAT: Final = 0x277

# The same numbers by the names Linux's msr-index.h gives them (FMASK is its MSR_SYSCALL_MASK).
MSR_EFER: Final = IA32_EFER
MSR_STAR: Final = STAR
MSR_LSTAR: Final = LSTAR
MSR_FMASK: Final = FMASK
MSR_FS_BASE: Final = FS_BASE
MSR_GS_BASE: Final = GS_BASE
MSR_KERNEL_GS_BASE: Final = KERNEL_GS_BASE

_X2APIC: Final = {
    0x802: "APICID",
    0x803: "VERSION",
    0x808: "TPR",
    0x80A: "PPR",
    0x80B: "EOI",
    0x80D: "LDR",
    0x80F: "SIVR",
    **{0x810 + i: f"ISR{i}" for i in range(8)},
    **{0x818 + i: f"TMR{i}" for i in range(8)},
    **{0x820 + i: f"IRR{i}" for i in range(8)},
    0x828: "ESR",
    0x82F: "LVT_CMCI",
    0x830: "ICR",
    0x832: "LVT_TIMER",
    0x833: "LVT_THERMAL",
    0x834: "LVT_PMI",
    0x835: "LVT_LINT0",
    0x836: "LVT_LINT1",
    0x837: "LVT_ERROR",
    0x838: "INIT_COUNT",
    0x839: "CUR_COUNT",
    0x83E: "DIV_CONF",
    0x83F: "SELF_IPI",
}

_KVM: Final = (
    "WALL_CLOCK_NEW SYSTEM_TIME_NEW ASYNC_PF_EN STEAL_TIME PV_EOI_EN POLL_CONTROL ASYNC_PF_INT "
    "ASYNC_PF_ACK MIGRATION_CONTROL"
).split()

MSR_NAMES: Final[dict[int, str]] = {
    0x10: "IA32_TSC",
    0x11: "KVM_WALL_CLOCK",
    0x12: "KVM_SYSTEM_TIME",
    IA32_APIC_BASE: "IA32_APIC_BASE",
    0x3A: "IA32_FEATURE_CONTROL",
    0x3B: "IA32_TSC_ADJUST",
    IA32_SPEC_CTRL: "IA32_SPEC_CTRL",
    0x49: "IA32_PRED_CMD",
    0x8B: "IA32_BIOS_SIGN_ID",
    0xE7: "IA32_MPERF",
    0xE8: "IA32_APERF",
    0xFE: "IA32_MTRRCAP",
    0x10A: "IA32_ARCH_CAPABILITIES",
    0x10B: "IA32_FLUSH_CMD",
    IA32_SYSENTER_CS: "IA32_SYSENTER_CS",
    IA32_SYSENTER_ESP: "IA32_SYSENTER_ESP",
    IA32_SYSENTER_EIP: "IA32_SYSENTER_EIP",
    0x179: "IA32_MCG_CAP",
    0x17A: "IA32_MCG_STATUS",
    0x17B: "IA32_MCG_CTL",
    IA32_MISC_ENABLE: "IA32_MISC_ENABLE",
    0x1D9: "IA32_DEBUGCTL",
    **{0x200 + 2 * n: f"IA32_MTRR_PHYSBASE{n}" for n in range(10)},
    **{0x201 + 2 * n: f"IA32_MTRR_PHYSMASK{n}" for n in range(10)},
    0x250: "IA32_MTRR_FIX64K_00000",
    0x258: "IA32_MTRR_FIX16K_80000",
    0x259: "IA32_MTRR_FIX16K_A0000",
    **{0x268 + i: f"IA32_MTRR_FIX4K_{0xC0000 + 0x8000 * i:05X}" for i in range(8)},
    IA32_PAT: "IA32_PAT",
    0x2FF: "IA32_MTRR_DEF_TYPE",
    0x6A0: "IA32_U_CET",
    0x6A2: "IA32_S_CET",
    **{0x6A4 + i: f"IA32_PL{i}_SSP" for i in range(4)},
    0x6A8: "IA32_INTERRUPT_SSP_TABLE_ADDR",
    0x6E0: "IA32_TSC_DEADLINE",
    **{msr: f"IA32_X2APIC_{name}" for msr, name in _X2APIC.items()},
    0xD90: "IA32_BNDCFGS",
    0xDA0: "IA32_XSS",
    IA32_EFER: "IA32_EFER",
    STAR: "STAR",
    LSTAR: "LSTAR",
    CSTAR: "CSTAR",
    FMASK: "FMASK",
    FS_BASE: "FS_BASE",
    GS_BASE: "GS_BASE",
    KERNEL_GS_BASE: "KERNEL_GS_BASE",
    TSC_AUX: "TSC_AUX",
    **{0x4B564D00 + i: f"KVM_{name}" for i, name in enumerate(_KVM)},
}
"""MSR number -> name (Intel SDM names; STAR/LSTAR/CSTAR/FMASK and the segment bases short)."""

_ALIASES: Final = {"EFER": IA32_EFER, "SYSCALL_MASK": FMASK, "SFMASK": FMASK}


def msr_name(msr: int) -> str:
    """`IA32_EFER` for 0xc0000080; `MSR_0x...` for numbers not in the table."""
    return MSR_NAMES.get(msr, f"MSR_{msr:#x}")


def msr_number(name: str) -> int | None:
    """The number for a name from `MSR_NAMES` (or EFER, SYSCALL_MASK, SFMASK, `MSR_0x...`)."""
    for msr, known in MSR_NAMES.items():
        if known == name:
            return msr
    if name.startswith("MSR_0x"):
        return int(name[4:], 16)
    return _ALIASES.get(name)


def _bit_names(value: int, bits: dict[int, str]) -> list[str]:
    """Names of the set bits in bit order, then the unnamed rest as one hex number."""
    names = [name for bit, name in sorted(bits.items()) if value >> bit & 1]
    rest = value & ~sum(1 << bit for bit in bits)
    return names + ([f"{rest:#x}"] if rest else [])


_EFER_BITS: Final = {
    0: "SCE",
    8: "LME",
    10: "LMA",
    11: "NXE",
    12: "SVME",
    13: "LMSLE",
    14: "FFXSR",
    15: "TCE",
    21: "AUTOIBRS",
}


def decode_efer(value: int) -> str:
    """`SCE|LME|LMA|NXE` for 0xd01; `0` for zero."""
    return "|".join(_bit_names(value, _EFER_BITS)) or "0"


_RFLAGS_BITS: Final = {
    0: "CF",
    2: "PF",
    4: "AF",
    6: "ZF",
    7: "SF",
    8: "TF",
    9: "IF",
    10: "DF",
    11: "OF",
    14: "NT",
    16: "RF",
    17: "VM",
    18: "AC",
    19: "VIF",
    20: "VIP",
    21: "ID",
}
RFLAGS_MASKS: Final = {name: 1 << bit for bit, name in _RFLAGS_BITS.items()}
"""RFLAGS bits by name: `RFLAGS_MASKS["IF"]` is 0x200."""
_RFLAGS_RESERVED_ONE: Final = 1 << 1
_IOPL_SHIFT: Final = 12
_IOPL_MASK: Final = 3 << _IOPL_SHIFT


def _rflags_names(value: int, iopl: str | None) -> str:
    names = _bit_names(value & ~_IOPL_MASK, _RFLAGS_BITS)
    if iopl:
        names.insert(sum(1 for bit in _RFLAGS_BITS if bit < _IOPL_SHIFT and value >> bit & 1), iopl)
    return "|".join(names) or "0"


def decode_rflags(value: int) -> str:
    """RFLAGS as flag names in bit order: `IF` for 0x202 (bit 1, always set, is left out),
    `IF|IOPL=3` when IOPL is not zero."""
    iopl = (value & _IOPL_MASK) >> _IOPL_SHIFT
    return _rflags_names(value & ~_RFLAGS_RESERVED_ONE, f"IOPL={iopl}" if iopl else None)


def decode_fmask(value: int) -> str:
    """The RFLAGS bits `syscall` clears (FMASK): `TF|IF|DF|IOPL|NT|AC` for 0x47700.

    Both IOPL bits print as `IOPL`; a lone one as `IOPL(bit 12)` or `IOPL(bit 13)`."""
    both = value & _IOPL_MASK == _IOPL_MASK
    lone = f"IOPL(bit {12 if value >> 12 & 1 else 13})" if value & _IOPL_MASK else None
    return _rflags_names(value & 0xFFFFFFFF, "IOPL" if both else lone)


@dataclass(frozen=True)
class Selector:
    value: int
    index: int
    table: str  # "GDT" or "LDT"
    rpl: int

    def fields(self) -> str:
        return f"index {self.index}, {self.table}, RPL {self.rpl}"

    def __str__(self) -> str:
        return f"{self.value:#x} ({self.fields()})"


def decode_selector(value: int) -> Selector:
    """A segment selector: `0x33` is index 6 in the GDT at RPL 3."""
    value &= 0xFFFF
    return Selector(value, value >> 3, "LDT" if value & 4 else "GDT", value & 3)


@dataclass(frozen=True)
class StarSelectors:
    """The selectors STAR gives `syscall` and `sysret`, as the CPU computes them (Intel SDM):
    SYSCALL CS = STAR[47:32] with RPL cleared, SS = STAR[47:32] + 8; SYSRET to 64-bit code
    CS = STAR[63:48] + 16, SS = STAR[63:48] + 8, to 32-bit code CS = STAR[63:48], RPL forced
    to 3 on all three."""

    syscall_cs: int
    syscall_ss: int
    sysret_cs64: int
    sysret_ss: int
    sysret_cs32: int
    legacy_eip: int = 0
    """STAR[31:0]: the entry point of 32-bit `syscall` on AMD legacy mode; Linux leaves it 0."""

    def __str__(self) -> str:
        text = (
            f"SYSCALL CS={self.syscall_cs:#x} SS={self.syscall_ss:#x}; "
            f"SYSRET CS={self.sysret_cs64:#x} SS={self.sysret_ss:#x} "
            f"(32-bit CS={self.sysret_cs32:#x})"
        )
        return f"{text}; EIP={self.legacy_eip:#x}" if self.legacy_eip else text


def decode_star(value: int) -> StarSelectors:
    """STAR 0x0023001000000000 -> SYSCALL CS 0x10 SS 0x18; SYSRET CS 0x33 SS 0x2b (32-bit 0x23)."""
    syscall_base, sysret_base = (value >> 32) & 0xFFFF, (value >> 48) & 0xFFFF
    return StarSelectors(
        syscall_cs=syscall_base & 0xFFFC,
        syscall_ss=(syscall_base + 8) & 0xFFFF,
        sysret_cs64=((sysret_base + 16) | 3) & 0xFFFF,
        sysret_ss=((sysret_base + 8) | 3) & 0xFFFF,
        sysret_cs32=sysret_base | 3,
        legacy_eip=value & 0xFFFFFFFF,
    )


def decode_apic_base(value: int) -> str:
    """`base=0xfee00000 BSP|EN` (EXTD: x2APIC mode)."""
    flags = _bit_names(value & 0xFFF, {8: "BSP", 10: "EXTD", 11: "EN"})
    return f"base={value & 0x000FFFFFFFFFF000:#x}" + (" " + "|".join(flags) if flags else "")


_PAT_TYPES: Final = {0: "UC", 1: "WC", 4: "WT", 5: "WP", 6: "WB", 7: "UC-"}


def decode_pat(value: int) -> str:
    """The eight PAT entries: `PA0=WB PA1=WC PA2=UC- PA3=UC ...`."""
    entries = ((value >> (8 * i)) & 0xFF for i in range(8))
    return " ".join(f"PA{i}={_PAT_TYPES.get(e, f'{e:#x}')}" for i, e in enumerate(entries))


def decode_tsc_aux(value: int) -> str:
    """Linux stores `(node << 12) | cpu` in TSC_AUX for rdtscp/rdpid."""
    return f"cpu={value & 0xFFF} node={(value >> 12) & 0xFFFFF}"


_SPEC_CTRL_BITS: Final = {0: "IBRS", 1: "STIBP", 2: "SSBD", 7: "RRSBA_DIS_S", 10: "BHI_DIS_S"}
_MISC_ENABLE_BITS: Final = {
    0: "FAST_STRING",
    3: "TCC",
    7: "EMON",
    11: "BTS_UNAVAIL",
    12: "PEBS_UNAVAIL",
    16: "ENHANCED_SPEEDSTEP",
    18: "MWAIT",
    22: "LIMIT_CPUID",
    23: "XTPR_DISABLE",
    34: "XD_DISABLE",
}

_CODE_MSRS: Final = frozenset({LSTAR, CSTAR, IA32_SYSENTER_EIP})
_DATA_MSRS: Final = frozenset({FS_BASE, GS_BASE, KERNEL_GS_BASE, IA32_SYSENTER_ESP})

_DECODERS: Final[dict[int, Callable[[int], str]]] = {
    IA32_EFER: decode_efer,
    STAR: lambda v: str(decode_star(v)),
    FMASK: lambda v: f"clears {decode_fmask(v)}",
    IA32_SYSENTER_CS: lambda v: decode_selector(v).fields(),
    IA32_APIC_BASE: decode_apic_base,
    IA32_PAT: decode_pat,
    TSC_AUX: decode_tsc_aux,
    IA32_SPEC_CTRL: lambda v: "|".join(_bit_names(v, _SPEC_CTRL_BITS)) or "0",
    IA32_MISC_ENABLE: lambda v: "|".join(_bit_names(v, _MISC_ENABLE_BITS)) or "0",
}


def describe_msr(msr: int, value: int, symbolize: Symbolizer | None = None) -> str:
    """A value written to `msr`, decoded on one line (the MSR's name is `msr_name`'s job):

    LSTAR `0xffffffff81000000 <entry_SYSCALL_64>`, IA32_EFER `0xd01 (SCE|LME|LMA|NXE)`,
    STAR `0x23001000000000 (SYSCALL CS=0x10 SS=0x18; SYSRET CS=0x33 SS=0x2b (32-bit CS=0x23))`,
    FMASK `0x47700 (clears TF|IF|DF|IOPL|NT|AC)`. Addresses (LSTAR, CSTAR, SYSENTER_EIP/ESP
    and the segment bases) get a symbol when `symbolize` knows one.
    """
    value &= (1 << 64) - 1
    text = f"{value:#x}"
    if msr in _CODE_MSRS or msr in _DATA_MSRS:
        symbol = symbolize(value) if symbolize is not None and value else None
        return f"{text} <{symbol}>" if symbol else text
    decoder = _DECODERS.get(msr)
    return f"{text} ({decoder(value)})" if decoder is not None else text
