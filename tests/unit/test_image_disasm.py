"""Capstone scans: privileged-instruction sites, user syscall sites, listings."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_image_support import assemble_program, build_kernel, build_user

from tracer.image import (
    ALL_KINDS,
    ElfImage,
    disassemble,
    find_syscall_instructions,
    scan_sites,
)

# Every site in the fixture kernel: (label, kind). `not_on_path` is a local function.
KERNEL_SITES = [
    ("entry_swapgs", "swapgs"), ("entry_exit_swapgs", "swapgs"), ("entry_sysretq", "sysretq"),
    ("iret_swapgs", "swapgs"), ("iret_iretq", "iretq"), ("alt_entry", "swapgs"),
    ("alt_exit_swapgs", "swapgs"), ("alt_sysretq", "sysretq"), ("not_on_path", "swapgs"),
    ("site_wrmsr", "wrmsr"), ("site_rdmsr", "rdmsr"), ("site_rdfsbase", "rdfsbase"),
    ("site_wrfsbase", "wrfsbase"), ("site_rdgsbase", "rdgsbase"), ("site_wrgsbase", "wrgsbase"),
    ("site_mov_cr3", "mov_cr3"), ("site_int", "int"), ("site_hlt", "hlt"),
]  # fmt: skip


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> ElfImage:
    return ElfImage.open(build_kernel(tmp_path_factory.mktemp("kernel")))


def _addr(image: ElfImage, name: str) -> int:
    addr = image.address_of(name)
    assert addr is not None, name
    return addr


def test_scan_finds_exactly_the_labelled_sites(kernel: ElfImage) -> None:
    expected = sorted((_addr(kernel, label), kind) for label, kind in KERNEL_SITES)
    assert [(s.addr, s.kind) for s in scan_sites(kernel)] == expected


def test_sites_carry_text_size_and_function(kernel: ElfImage) -> None:
    sites = {s.addr: s for s in scan_sites(kernel)}
    cr3 = sites[_addr(kernel, "site_mov_cr3")]
    assert cr3.text.startswith("mov cr3, ") and cr3.size == 3
    assert cr3.function is not None and cr3.function.startswith("switch_bases+0x")
    sysret = sites[_addr(kernel, "entry_sysretq")]
    assert (sysret.text, sysret.size) == ("sysretq", 3)
    assert sites[_addr(kernel, "site_int")].text == "int 0x80"
    assert sites[_addr(kernel, "entry_swapgs")].function == "entry_SYSCALL_64"
    assert {s.section for s in sites.values()} == {".text"}


def test_reading_cr3_is_not_a_site(kernel: ElfImage) -> None:
    cr3_sites = scan_sites(kernel, ["mov_cr3"])
    assert [s.addr for s in cr3_sites] == [_addr(kernel, "site_mov_cr3")]


def test_kinds_filter(kernel: ElfImage) -> None:
    msr = scan_sites(kernel, {"wrmsr", "rdmsr"})
    assert [s.kind for s in msr] == ["wrmsr", "rdmsr"]
    assert scan_sites(kernel, []) == []
    assert scan_sites(kernel, ["syscall"]) == []
    with pytest.raises(ValueError, match="unknown site kinds"):
        scan_sites(kernel, ["wrmsr", "bogus"])  # type: ignore[list-item]
    assert "mov_cr3" in ALL_KINDS and len(ALL_KINDS) == 15


def test_find_syscall_instructions_in_a_user_program(tmp_path: Path) -> None:
    user = ElfImage.open(build_user(tmp_path))
    sites = find_syscall_instructions(user)
    assert [s.addr for s in sites] == sorted(
        [_addr(user, "site_syscall_write"), _addr(user, "site_syscall_exit")]
    )
    assert all(s.kind == "syscall" and s.text == "syscall" and s.size == 2 for s in sites)
    functions = sorted(s.function.split("+")[0] for s in sites if s.function)
    assert functions == ["raw_exit", "raw_write"]


SYNC_SOURCE = r"""
	.text
	.globl	_start
	.type	_start, @function
_start:
	hlt
	.size	_start, . - _start
	.byte	0x48, 0xb8		/* data: a movabs opcode that swallows the next 8 bytes */
	.globl	after_junk
	.type	after_junk, @function
after_junk:
	wrmsr
	swapgs
	ret
	.size	after_junk, . - after_junk
	.globl	unsized_label
unsized_label:
	nop
	.byte	0xe8			/* data again, before code that no symbol covers */
	.p2align 4
	.globl	gap_code
gap_code:
	sysretq
	.globl	iret_forms
iret_forms:
	iretl				/* 0xcf alone: not a 64-bit kernel's return, not a site */
	iretq
	.section .note.GNU-stack, "", @progbits
"""


def test_sweep_restarts_at_every_symbol(tmp_path: Path) -> None:
    image = ElfImage.open(assemble_program(tmp_path, "sync", SYNC_SOURCE))
    sites = [(s.addr, s.kind, s.function) for s in scan_sites(image)]
    after = _addr(image, "after_junk")
    assert sites == [
        (_addr(image, "_start"), "hlt", "_start"),
        (after, "wrmsr", "after_junk"),
        (after + 2, "swapgs", "after_junk+0x2"),
        (_addr(image, "gap_code"), "sysretq", "gap_code"),
        (_addr(image, "iret_forms") + 1, "iretq", "iret_forms+0x1"),
    ]


def test_disassemble_by_end_or_count(kernel: ElfImage) -> None:
    start = _addr(kernel, "entry_SYSCALL_64")
    first = disassemble(kernel, start, count=3)
    assert [i.text for i in first] == [
        "swapgs",
        "mov qword ptr gs:[0x10], rsp",
        first[2].text,
    ]
    assert first[0].bytes == b"\x0f\x01\xf8" and first[1].addr == first[0].end
    stack_load = _addr(kernel, "entry_kernel_stack_load")
    upto = disassemble(kernel, stack_load, stack_load + 9)
    assert [i.text for i in upto] == ["mov rsp, qword ptr gs:[0x18]"]
    assert disassemble(kernel, 0x10, count=4) == []
    with pytest.raises(ValueError):
        disassemble(kernel, start)
    with pytest.raises(ValueError):
        disassemble(kernel, start, start + 4, count=1)


def test_scanning_the_fixture_kernel_is_quick(kernel: ElfImage) -> None:
    started = time.perf_counter()
    scan_sites(kernel)
    assert time.perf_counter() - started < 0.5


def _big_program_source(functions: int) -> str:
    """About 160 bytes a function, each with bytes that look like candidates (0xf4, 0xcd)."""
    lines = ["\t.text"]
    for n in range(functions):
        lines += [f"\t.globl f{n}", f"\t.type f{n}, @function", f"f{n}:"]
        lines += [
            "\tmovl $0xf4cdcff4, %eax",
            "\taddq %rax, %rbx",
            "\tleaq 8(%rsp,%rcx,4), %rdx",
        ] * 12
        lines += ["\twrmsr" if n % 100 == 0 else "\tnop", "\tret", f"\t.size f{n}, . - f{n}"]
    lines += ["\t.globl _start", "_start:", "\thlt", '\t.section .note.GNU-stack, "", @progbits']
    return "\n".join(lines) + "\n"


def test_scanning_a_megabyte_of_code_takes_seconds_at_most(tmp_path: Path) -> None:
    image = ElfImage.open(assemble_program(tmp_path, "big", _big_program_source(6400)))
    text = image.section(".text")
    assert text is not None and text.size > 900_000
    started = time.perf_counter()
    sites = scan_sites(image)
    elapsed = time.perf_counter() - started
    assert [s.kind for s in sites].count("wrmsr") == 64
    assert elapsed < 5.0, f"{text.size} bytes scanned in {elapsed:.2f}s"
