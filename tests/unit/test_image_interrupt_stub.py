"""Linux's interrupt stubs (idtentry) call error_entry before their handler: error_entry pushes
pt_regs and returns the stack to switch to, then the stub hands pt_regs to the handler in RDI.
The probe belongs on the handler's call, where the vector and pt_regs can be read."""

from __future__ import annotations

from pathlib import Path

from test_image_support import assemble_program

from tracer.image import ElfImage
from tracer.probes.irq import find_interrupt_stubs

IDTENTRY = """
	.text
	.globl	asm_sysvec_apic_timer_interrupt
asm_sysvec_apic_timer_interrupt:
	pushq	$-1
	call	error_entry
	movq	%rax, %rsp		/* the task stack when coming from user mode */
	movq	%rsp, %rdi		/* pt_regs, the handler's first argument */
	call	sysvec_apic_timer_interrupt
	jmp	error_return

	.globl	asm_exc_page_fault
asm_exc_page_fault:
	call	error_entry
	movq	%rax, %rsp
	movq	%rsp, %rdi
	movq	0x78(%rsp), %rsi	/* the error code, the second argument */
	movq	$-1, 0x78(%rsp)
	call	exc_page_fault
	jmp	error_return

	.globl	error_entry
error_entry:
	pushq	%rsi
	pushq	%rdx
	pushq	%rcx
	pushq	%rax
	pushq	%r8
	pushq	%r9
	movq	%rsp, %rax
	ret

	.globl	sysvec_apic_timer_interrupt
sysvec_apic_timer_interrupt:
	ret
	.globl	exc_page_fault
exc_page_fault:
	ret

	.globl	error_return
error_return:
	swapgs
	iretq
"""


def test_the_probe_sits_on_the_call_handed_pt_regs_not_on_error_entry(tmp_path: Path) -> None:
    image = ElfImage.open(assemble_program(tmp_path, "idtentry", IDTENTRY))
    stubs = {stub.name: stub for stub in find_interrupt_stubs(image)}
    assert set(stubs) == {"asm_sysvec_apic_timer_interrupt", "asm_exc_page_fault"}
    for name, handler in (
        ("asm_sysvec_apic_timer_interrupt", "sysvec_apic_timer_interrupt"),
        ("asm_exc_page_fault", "exc_page_fault"),
    ):
        path = stubs[name].path
        assert path.dispatcher_name == handler
        assert path.regs_pointer == "rdi"
        assert [site.kind for site in path.exit_sites] == ["iretq"]
    assert stubs["asm_exc_page_fault"].vector == 14
