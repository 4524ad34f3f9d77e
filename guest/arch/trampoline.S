/*
 * Application processor start-up: the SIPI starts an AP in real mode at TRAMPOLINE_PHYS
 * (vector TRAMPOLINE_PHYS >> 12), where smp_boot() copied this code. It goes to protected
 * mode, turns on PAE paging with the boot page tables (which still map low memory 1:1 and the
 * kernel high), sets EFER as the boot CPU has it (LME, SCE, NX), enters long mode, points
 * GS_BASE at the CPU's per-CPU area and jumps to ap_startup_64 at its kernel address. These two
 * MSR writes are not logged (like _start32's EFER.LME); ap_main writes GS_BASE again through
 * wrmsr() (cause boot), the same value.
 */
#include "layout.h"
#include "msr.h"
#include "smp_defs.h"

#define TR(sym) ((sym) - trampoline_start + TRAMPOLINE_PHYS)

	.section .rodata
	.balign 16
	.globl trampoline_start
trampoline_start:
	.code16
	cli
	cld
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl TR(tr_gdt_desc)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x08, $TR(tr_protected)

	.code32
tr_protected:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl %cr4, %eax
	orl $(1 << 5), %eax                     /* PAE */
	movl %eax, %cr4
	movl TR(tr_cr3), %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	movl TR(tr_efer), %eax
	xorl %edx, %edx
	wrmsr
	movl %cr0, %eax
	orl $0x80010001, %eax                   /* PG | WP | PE */
	movl %eax, %cr0
	ljmpl $0x18, $TR(tr_long)

	.code64
tr_long:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl $MSR_GS_BASE, %ecx                 /* the per-CPU area before any C (ftrace needs it) */
	movl TR(tr_gsbase), %eax
	movl TR(tr_gsbase) + 4, %edx
	wrmsr
	movq TR(tr_stack), %rsp
	movq TR(tr_entry), %rax
	jmp *%rax

	.balign 8
tr_gdt:
	.quad 0
	.quad 0x00cf9a000000ffff                /* 0x08: 32-bit code */
	.quad 0x00cf92000000ffff                /* 0x10: data */
	.quad 0x00af9a000000ffff                /* 0x18: 64-bit code */
tr_gdt_desc:
	.word tr_gdt_desc - tr_gdt - 1
	.long TR(tr_gdt)
	.balign 8
	/* filled in by smp_boot() before each SIPI */
	.globl tr_cr3, tr_efer, tr_stack, tr_entry, tr_gsbase
tr_cr3:	.long 0, 0
tr_efer: .long 0, 0
tr_stack: .quad 0
tr_entry: .quad 0
tr_gsbase: .quad 0
	.globl trampoline_end
trampoline_end:

	.text
	.code64
	.globl ap_startup_64
	.type ap_startup_64, @function
ap_startup_64:
	xorl %ebp, %ebp
	call ap_main
	ud2
	.size ap_startup_64, . - ap_startup_64
