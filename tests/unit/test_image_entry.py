"""The syscall entry path read from code laid out like Linux's entry_SYSCALL_64."""

from __future__ import annotations

import pytest
from test_image_support import GUEST_KERNEL, assemble_program, build_kernel

from tracer.image import (
    ElfImage,
    EntryPath,
    ExitSite,
    ImageError,
    analyze_syscall_entry,
    scan_sites,
    struct_layout,
)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> ElfImage:
    return ElfImage.open(build_kernel(tmp_path_factory.mktemp("kernel")))


@pytest.fixture(scope="module")
def linux_like(kernel: ElfImage) -> EntryPath:
    return analyze_syscall_entry(kernel, _addr(kernel, "entry_SYSCALL_64"))


def _addr(image: ElfImage, name: str) -> int:
    addr = image.address_of(name)
    assert addr is not None, name
    return addr


def test_swapgs_split_around_the_dispatch_call(kernel: ElfImage, linux_like: EntryPath) -> None:
    assert linux_like.entry == _addr(kernel, "entry_SYSCALL_64")
    assert linux_like.entry_swapgs == (_addr(kernel, "entry_swapgs"),)
    # Fall-through first: the sysret path, then the iret path in the other function.
    assert linux_like.exit_swapgs == (
        _addr(kernel, "entry_exit_swapgs"),
        _addr(kernel, "iret_swapgs"),
    )
    assert linux_like.swapgs_sites == linux_like.entry_swapgs + linux_like.exit_swapgs
    assert _addr(kernel, "not_on_path") not in linux_like.swapgs_sites


def test_dispatch_call_is_the_syscall_handler_not_the_first_call(
    kernel: ElfImage, linux_like: EntryPath
) -> None:
    assert linux_like.dispatch_call == _addr(kernel, "entry_dispatch_call")
    assert linux_like.dispatcher == _addr(kernel, "do_syscall_64")
    assert linux_like.dispatcher_name == "do_syscall_64"
    assert linux_like.regs_pointer == "rdi"


def test_exit_sites(kernel: ElfImage, linux_like: EntryPath) -> None:
    assert linux_like.exit_sites == (
        ExitSite(_addr(kernel, "entry_sysretq"), "sysretq"),
        ExitSite(_addr(kernel, "iret_iretq"), "iretq"),
    )
    assert linux_like.exit_sites[0] == (_addr(kernel, "entry_sysretq"), "sysretq")


def test_per_cpu_stack_switch(kernel: ElfImage, linux_like: EntryPath) -> None:
    save, load = linux_like.user_rsp_save, linux_like.kernel_stack_load
    assert save is not None and load is not None
    assert (save.addr, save.gs_offset) == (_addr(kernel, "entry_user_rsp_save"), 0x10)
    assert (load.addr, load.gs_offset) == (_addr(kernel, "entry_kernel_stack_load"), 0x18)
    assert save.text == "mov qword ptr gs:[0x10], rsp"


def test_pushes_build_exactly_pt_regs(kernel: ElfImage, linux_like: EntryPath) -> None:
    pushes = linux_like.pushes
    assert pushes[0] == _addr(kernel, "entry_push_first")
    assert pushes[-1] == _addr(kernel, "entry_push_last")
    assert _addr(kernel, "entry_SYSCALL_64_after_hwframe") in pushes
    layout = struct_layout(kernel, "struct pt_regs")
    assert layout is not None and len(pushes) * 8 == layout.size


def test_blocks_cover_the_path_in_order(kernel: ElfImage, linux_like: EntryPath) -> None:
    blocks = linux_like.blocks
    assert [b.function for b in blocks] == [
        "entry_SYSCALL_64",
        f"entry_SYSCALL_64+{_addr(kernel, 'entry_kernel_stack_load') - linux_like.entry:#x}",
        "swapgs_restore_regs_and_return_to_usermode",
    ]
    assert [b.label for b in blocks] == [
        "entry_SYSCALL_64",
        "entry_kernel_stack_load",
        "swapgs_restore_regs_and_return_to_usermode",
    ]
    texts = [insn.text for insn in linux_like.instructions]
    assert texts[0] == "swapgs" and "sysretq" in texts and texts[-1] == "iretq"
    skipped = _addr(kernel, "entry_user_rsp_save") + 9 + 2  # after the jmp over the CR3 switch
    assert all(insn.addr != skipped for insn in linux_like.instructions)
    assert linux_like.notes == ()


def test_dispatcher_found_without_a_syscall_name(kernel: ElfImage) -> None:
    alt = analyze_syscall_entry(kernel, _addr(kernel, "alt_entry"))
    assert alt.dispatch_call == _addr(kernel, "alt_dispatch_call")
    assert alt.dispatcher_name == "alt_dispatch"
    assert alt.regs_pointer == "rsp"
    assert alt.entry_swapgs == (_addr(kernel, "alt_entry"),)
    assert alt.exit_swapgs == (_addr(kernel, "alt_exit_swapgs"),)
    assert alt.exit_sites == (ExitSite(_addr(kernel, "alt_sysretq"), "sysretq"),)
    assert len(alt.pushes) == 6
    assert alt.user_rsp_save is None and alt.kernel_stack_load is None
    thunk = f"alt_entry+{_addr(kernel, 'alt_return_thunk_jmp') - _addr(kernel, 'alt_entry'):#x}"
    assert alt.notes == (f"path ends through __x86_return_thunk at {thunk}",)


def test_entry_outside_the_code(kernel: ElfImage) -> None:
    with pytest.raises(ImageError, match="not in the file's code"):
        analyze_syscall_entry(kernel, 0x10)


def test_code_without_calls_has_no_dispatcher(kernel: ElfImage) -> None:
    path = analyze_syscall_entry(kernel, _addr(kernel, "iret_swapgs"))
    assert path.dispatch_call is None and path.dispatcher is None and path.regs_pointer is None
    assert path.entry_swapgs == (_addr(kernel, "iret_swapgs"),) and path.exit_sites == ()
    assert "no direct call on the entry path: no dispatcher found" in path.notes


@pytest.mark.skipif(not GUEST_KERNEL.exists(), reason=f"{GUEST_KERNEL} not built")
def test_guest_kernel() -> None:
    image = ElfImage.open(GUEST_KERNEL)
    sites = scan_sites(image)
    kinds = {s.kind for s in sites}
    assert {"wrmsr", "swapgs", "sysretq"} <= kinds
    entry = image.symbol("entry_SYSCALL_64")
    if entry is None:
        pytest.skip("the guest kernel has no entry_SYSCALL_64 symbol")
    path = analyze_syscall_entry(image, entry.addr)
    assert path.dispatch_call is not None and path.dispatcher is not None
    assert path.entry_swapgs and path.exit_swapgs
    assert any(site.kind == "sysretq" for site in path.exit_sites)
    swapgs_sites = {s.addr for s in sites if s.kind == "swapgs"}
    assert set(path.swapgs_sites) <= swapgs_sites
    if image.has_dwarf:
        layout = struct_layout(image, "struct pt_regs")
        assert layout is not None and layout.size == 8 * len(path.pushes)


RIP_RELATIVE_SOURCE = r"""
	.data
	.globl	percpu_scratch, percpu_top
percpu_scratch:	.quad 0
percpu_top:	.quad 0

	.text
	.globl	_start
_start:
	hlt

	.globl	rip_entry
	.type	rip_entry, @function
rip_entry:				/* per-CPU slots as Linux >= 6.x spells PER_CPU_VAR */
	swapgs
	movq	%rsp, %gs:percpu_scratch(%rip)
	movq	%gs:percpu_top(%rip), %rsp
	pushq	%rcx
	pushq	%r11
	pushq	%rax
	leaq	(%rsp), %rdi
	call	handle_syscall
	swapgs
	jmp	*%rcx
	.size	rip_entry, . - rip_entry

	.globl	odd_entry
	.type	odd_entry, @function
odd_entry:				/* RDI points past the frame: not taken as &pt_regs */
	pushq	%rax
	pushq	%rcx
	leaq	8(%rsp), %rdi
	call	handle_syscall
	popq	%rcx
	popq	%rax
	sysretq
	.size	odd_entry, . - odd_entry

	.type	handle_syscall, @function
handle_syscall:
	ret
	.size	handle_syscall, . - handle_syscall
	.section .note.GNU-stack, "", @progbits
"""


@pytest.fixture(scope="module")
def rip_relative(tmp_path_factory: pytest.TempPathFactory) -> ElfImage:
    out = tmp_path_factory.mktemp("rip")
    return ElfImage.open(assemble_program(out, "rip", RIP_RELATIVE_SOURCE))


def test_rip_relative_per_cpu_slots(rip_relative: ElfImage) -> None:
    image = rip_relative
    path = analyze_syscall_entry(image, _addr(image, "rip_entry"))
    save, load = path.user_rsp_save, path.kernel_stack_load
    assert save is not None and save.gs_offset == _addr(image, "percpu_scratch")
    assert load is not None and load.gs_offset == _addr(image, "percpu_top")
    assert path.dispatcher_name == "handle_syscall" and path.regs_pointer == "rdi"
    assert len(path.entry_swapgs) == 1 and len(path.exit_swapgs) == 1
    assert path.exit_sites == ()
    assert len(path.notes) == 1 and path.notes[0].startswith("path ends at an indirect jump: ")
    assert path.notes[0].endswith("jmp rcx")


def test_rdi_not_copied_from_rsp_is_noted(rip_relative: ElfImage) -> None:
    path = analyze_syscall_entry(rip_relative, _addr(rip_relative, "odd_entry"))
    assert path.regs_pointer == "rsp"
    assert path.exit_sites == (ExitSite(path.exit_sites[0].addr, "sysretq"),)
    assert "no swapgs before the dispatch call" in path.notes
    assert any("lea rdi, [rsp + 8]" in note for note in path.notes)
