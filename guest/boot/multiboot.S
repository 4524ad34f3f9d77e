/*
 * Multiboot (v1) entry. QEMU's -kernel refuses ELF64 multiboot images, so the kernel is booted
 * as a flat binary with the a.out kludge (flag 16): the header gives the physical load range.
 * We arrive in 32-bit protected mode, enable PAE paging with boot tables that map the first
 * GiB three times (identity, direct map, kernel image), enter long mode and jump high.
 */
#include "layout.h"
#include "msr.h"

#define MB_MAGIC 0x1badb002
#define MB_FLAGS ((1 << 0) | (1 << 1) | (1 << 16)) /* page-aligned modules, memory info, a.out kludge */

	.section .multiboot, "a"
	.balign 4
multiboot_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
	.long multiboot_header  /* header_addr */
	.long _boot_start       /* load_addr */
	.long _edata_phys       /* load_end_addr */
	.long _end_phys         /* bss_end_addr: QEMU zeroes up to here */
	.long _start32          /* entry_addr */

	.section .boot.text, "ax"
	.code32
	.globl _start32
	.type _start32, @function
_start32:
	cli
	cld
	movl %eax, %edi /* multiboot magic: first argument of kernel_main */
	movl %ebx, %esi /* multiboot info (physical): second argument */

	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb no_long_mode
	movl $0x80000001, %eax
	cpuid
	btl $29, %edx
	jnc no_long_mode

	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $(1 << 5), %eax /* PAE */
	movl %eax, %cr4
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80010001, %eax /* PG | WP | PE */
	movl %eax, %cr0
	lgdt boot_gdt_desc
	ljmp $0x08, $start64_low

no_long_mode:
	/* isa-debug-exit with the "boot failure" code, then stop. */
	movw $0xf4, %dx
	movl $3, %eax
	outl %eax, %dx
1:	hlt
	jmp 1b
	.size _start32, . - _start32

	.code64
start64_low:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movabsq $startup_64, %rax
	jmp *%rax

	.section .boot.data, "aw"
	.balign 8
boot_gdt:
	.quad 0
	.quad 0x00af9a000000ffff /* 0x08: 64-bit kernel code */
	.quad 0x00cf92000000ffff /* 0x10: kernel data */
boot_gdt_desc:
	.word boot_gdt_desc - boot_gdt - 1
	.long boot_gdt

	.balign 4096
	.globl boot_pml4
boot_pml4:
	.quad boot_pdpt_low + 0x3   /* [0]: identity, for the jump to long mode */
	.fill 272, 8, 0
	.quad boot_pdpt_low + 0x3   /* [273]: PAGE_OFFSET direct map */
	.fill 237, 8, 0
	.quad boot_pdpt_high + 0x3  /* [511]: __START_KERNEL_map */
boot_pdpt_low:
	.quad boot_pd + 0x3
	.fill 511, 8, 0
boot_pdpt_high:
	.fill 510, 8, 0
	.quad boot_pd + 0x3
	.quad 0
boot_pd:
	.set i, 0
	.rept 512
	.quad (i << 21) + 0x83 /* 2 MiB, present, writable */
	.set i, i + 1
	.endr

	.text
	.globl startup_64
	.type startup_64, @function
startup_64:
	leaq boot_stack_top(%rip), %rsp
	xorl %ebp, %ebp
	movl %edi, %edi /* upper halves are undefined after the mode switch */
	movl %esi, %esi
	call kernel_main
	ud2
	.size startup_64, . - startup_64

	.bss
	.balign 4096
	.globl boot_stack
boot_stack:
	.skip KSTACK_SIZE
	.globl boot_stack_top
boot_stack_top:
