"""MSR names and decoders, checked on the values Linux writes."""

from __future__ import annotations

import pytest

from tracer.decode.msr import (
    CSTAR,
    FMASK,
    FS_BASE,
    IA32_APIC_BASE,
    IA32_EFER,
    IA32_PAT,
    IA32_SYSENTER_CS,
    KERNEL_GS_BASE,
    LSTAR,
    STAR,
    TSC_AUX,
    StarSelectors,
    decode_efer,
    decode_fmask,
    decode_rflags,
    decode_selector,
    decode_star,
    describe_msr,
    msr_name,
    msr_number,
)

LINUX_STAR = 0x0023001000000000  # __USER32_CS << 48 | __KERNEL_CS << 32
LINUX_FMASK_OLD = 0x47700  # TF|DF|IF|IOPL|AC|NT (before 5.x)
LINUX_FMASK = 0x257FD5  # every arithmetic and control flag (arch/x86/kernel/cpu/common.c)
LINUX_EFER = 0xD01  # SCE|LME|LMA|NXE


@pytest.mark.parametrize(
    ("msr", "name"),
    [
        (0x10, "IA32_TSC"),
        (0x1B, "IA32_APIC_BASE"),
        (0x48, "IA32_SPEC_CTRL"),
        (0x174, "IA32_SYSENTER_CS"),
        (0x175, "IA32_SYSENTER_ESP"),
        (0x176, "IA32_SYSENTER_EIP"),
        (0x1A0, "IA32_MISC_ENABLE"),
        (0x277, "IA32_PAT"),
        (0xC0000080, "IA32_EFER"),
        (0xC0000081, "STAR"),
        (0xC0000082, "LSTAR"),
        (0xC0000083, "CSTAR"),
        (0xC0000084, "FMASK"),
        (0xC0000100, "FS_BASE"),
        (0xC0000101, "GS_BASE"),
        (0xC0000102, "KERNEL_GS_BASE"),
        (0xC0000103, "TSC_AUX"),
        (0x6E0, "IA32_TSC_DEADLINE"),
        (0x830, "IA32_X2APIC_ICR"),
        (0x26F, "IA32_MTRR_FIX4K_F8000"),
        (0x4B564D01, "KVM_SYSTEM_TIME_NEW"),
        (0x12345, "MSR_0x12345"),
    ],
)
def test_msr_names(msr: int, name: str) -> None:
    assert msr_name(msr) == name
    assert msr_number(name) == msr


def test_msr_aliases() -> None:
    assert msr_number("EFER") == IA32_EFER
    assert msr_number("SYSCALL_MASK") == FMASK
    assert msr_number("NOT_AN_MSR") is None


def test_efer() -> None:
    assert decode_efer(LINUX_EFER) == "SCE|LME|LMA|NXE"
    assert decode_efer(0x500) == "LME|LMA"
    assert decode_efer(0) == "0"
    assert decode_efer(LINUX_EFER | 1 << 40) == "SCE|LME|LMA|NXE|0x10000000000"


def test_star_of_linux() -> None:
    star = decode_star(LINUX_STAR)
    assert star == StarSelectors(
        syscall_cs=0x10, syscall_ss=0x18, sysret_cs64=0x33, sysret_ss=0x2B, sysret_cs32=0x23
    )
    assert str(star) == "SYSCALL CS=0x10 SS=0x18; SYSRET CS=0x33 SS=0x2b (32-bit CS=0x23)"


def test_star_follows_the_cpu_not_the_raw_fields() -> None:
    # SYSCALL clears the CS RPL; SYSRET forces RPL 3 (Intel SDM, SYSCALL/SYSRET).
    star = decode_star(0x0020001300000000)
    assert (star.syscall_cs, star.syscall_ss) == (0x10, 0x1B)
    assert (star.sysret_cs32, star.sysret_ss, star.sysret_cs64) == (0x23, 0x2B, 0x33)
    assert str(decode_star(LINUX_STAR | 0x1234)).endswith("; EIP=0x1234")


def test_fmask() -> None:
    assert decode_fmask(LINUX_FMASK_OLD) == "TF|IF|DF|IOPL|NT|AC"
    assert decode_fmask(LINUX_FMASK) == "CF|PF|AF|ZF|SF|TF|IF|DF|OF|IOPL|NT|RF|AC|ID"
    assert decode_fmask(0x1000) == "IOPL(bit 12)"
    assert decode_fmask(0x2200) == "IF|IOPL(bit 13)"
    assert decode_fmask(0) == "0"


def test_rflags() -> None:
    assert decode_rflags(0x202) == "IF"
    assert decode_rflags(0x246) == "PF|ZF|IF"
    assert decode_rflags(0x3202) == "IF|IOPL=3"
    assert decode_rflags(0x2) == "0"
    assert decode_rflags(0x250203) == "CF|IF|RF|AC|ID"
    assert decode_rflags(1 << 30 | 0x202) == "IF|0x40000000"


def test_selectors() -> None:
    user_cs = decode_selector(0x33)
    assert (user_cs.index, user_cs.table, user_cs.rpl) == (6, "GDT", 3)
    assert str(user_cs) == "0x33 (index 6, GDT, RPL 3)"
    assert str(decode_selector(0x2B)) == "0x2b (index 5, GDT, RPL 3)"
    assert str(decode_selector(0x10)) == "0x10 (index 2, GDT, RPL 0)"
    assert decode_selector(0xF).table == "LDT"


def _symbols(addr: int) -> str | None:
    return {0xFFFFFFFF81000000: "entry_SYSCALL_64", 0xFFFFFFFF81000040: "entry_SYSCALL_compat"}.get(
        addr
    )


@pytest.mark.parametrize(
    ("msr", "value", "text"),
    [
        (LSTAR, 0xFFFFFFFF81000000, "0xffffffff81000000 <entry_SYSCALL_64>"),
        (CSTAR, 0xFFFFFFFF81000040, "0xffffffff81000040 <entry_SYSCALL_compat>"),
        (LSTAR, 0xFFFFFFFF81000010, "0xffffffff81000010"),
        (FS_BASE, 0, "0x0"),
        (KERNEL_GS_BASE, 0xFFFF88803FC00000, "0xffff88803fc00000"),
        (IA32_EFER, LINUX_EFER, "0xd01 (SCE|LME|LMA|NXE)"),
        (
            STAR,
            LINUX_STAR,
            "0x23001000000000 (SYSCALL CS=0x10 SS=0x18; SYSRET CS=0x33 SS=0x2b (32-bit CS=0x23))",
        ),
        (FMASK, LINUX_FMASK_OLD, "0x47700 (clears TF|IF|DF|IOPL|NT|AC)"),
        (IA32_SYSENTER_CS, 0x10, "0x10 (index 2, GDT, RPL 0)"),
        (IA32_APIC_BASE, 0xFEE00900, "0xfee00900 (base=0xfee00000 BSP|EN)"),
        (
            IA32_PAT,
            0x0007010600070106,
            "0x7010600070106 (PA0=WB PA1=WC PA2=UC- PA3=UC PA4=WB PA5=WC PA6=UC- PA7=UC)",
        ),
        (TSC_AUX, 0x1003, "0x1003 (cpu=3 node=1)"),
        (0x12345, 7, "0x7"),
    ],
)
def test_describe_msr(msr: int, value: int, text: str) -> None:
    assert describe_msr(msr, value, _symbols) == text


def test_describe_msr_without_symbolizer() -> None:
    assert describe_msr(LSTAR, 0xFFFFFFFF81000000) == "0xffffffff81000000"
