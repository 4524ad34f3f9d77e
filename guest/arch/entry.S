/*
 * Kernel entry and exit: SYSCALL (entry_SYSCALL_64, as in Linux), exceptions, interrupts,
 * and the context switch. Every path builds a struct pt_regs on the task's kernel stack and
 * executes swapgs exactly when it crosses between ring 3 and ring 0.
 */
#include "errno.h"
#include "percpu.h"
#include "ptrace.h"
#include "segment.h"
#include "layout.h"
#include "task_offsets.h"
#include "tls.h"

#define SYM_FUNC_START(name) .globl name; .type name, @function; .p2align 4; name:
#define SYM_FUNC_END(name) .size name, . - name

/* Entry points have no caller: tell debuggers to stop unwinding here (no .eh_frame). */
	.cfi_sections .debug_frame
#define ENTRY_CFI_START .cfi_startproc simple; .cfi_def_cfa %rsp, 0; .cfi_undefined %rip
#define ENTRY_CFI_END .cfi_endproc
#define SYM_INNER_LABEL(name) .globl name; name:

/* Push the general registers below orig_ax so the stack holds a complete struct pt_regs. */
.macro PUSH_REGS rax=%rax
	pushq %rdi
	pushq %rsi
	pushq %rdx
	pushq %rcx
	pushq \rax
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
.endm

.macro POP_REGS
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rax
	popq %rcx
	popq %rdx
	popq %rsi
	popq %rdi
.endm

/*
 * tls=osv: OSv's FS switch around everything the kernel runs for a ring crossing. With
 * pt_regs complete (all registers free), tls_switch_to_kernel(regs, cause) loads the kernel
 * TCB unless fs:0 already is this thread's (nested entry) and returns whether it switched;
 * %r12 (callee-saved, so it survives schedule()) carries that to tls_switch_to_app at the exit.
 * Other schemes skip both calls.
 */
.macro TLS_SWITCH_TO_KERNEL cause
	cmpb $0, tls_entry_switch(%rip)
	je 1f
	movq %rsp, %rdi
	movl $\cause, %esi
	call tls_switch_to_kernel
	movzbl %al, %r12d
1:
.endm

.macro TLS_SWITCH_TO_APP cause
	cmpb $0, tls_entry_switch(%rip)
	je 1f
	movq %rsp, %rdi
	movl $\cause, %esi
	movl %r12d, %edx
	call tls_switch_to_app
1:
.endm

	.text

/*
 * SYSCALL: RCX = user RIP, R11 = user RFLAGS, RAX = nr, args in RDI RSI RDX R10 R8 R9.
 * IF, TF, DF, AC (and the rest of SYSCALL_MASK) are already clear; RSP is still the user's.
 */
SYM_FUNC_START(entry_SYSCALL_64)
	ENTRY_CFI_START
	swapgs
	movq %rsp, %gs:PERCPU_user_rsp_scratch
	movq %gs:PERCPU_top_of_stack, %rsp
SYM_INNER_LABEL(entry_SYSCALL_64_safe_stack)
	pushq $__USER_DS                         /* pt_regs->ss */
	pushq %gs:PERCPU_user_rsp_scratch        /* pt_regs->sp */
	pushq %r11                               /* pt_regs->flags */
	pushq $__USER_CS                         /* pt_regs->cs */
	pushq %rcx                               /* pt_regs->ip */
SYM_INNER_LABEL(entry_SYSCALL_64_after_hwframe)
	pushq %rax                               /* pt_regs->orig_ax */
	PUSH_REGS rax=$-ENOSYS
	TLS_SWITCH_TO_KERNEL TLS_CAUSE_SYSCALL_ENTRY

	movq %rsp, %rdi
	movslq PTREGS_ORIG_AX(%rsp), %rsi
	call do_syscall_64
	TLS_SWITCH_TO_APP TLS_CAUSE_SYSCALL_EXIT

	/*
	 * SYSRET is only safe for an untouched frame: RCX = RIP below TASK_SIZE_MAX (a
	 * non-canonical RCX would fault in ring 0), R11 = RFLAGS without TF/RF, and the
	 * user selectors. Anything else returns through IRET.
	 */
	movq PTREGS_CX(%rsp), %rcx
	movq PTREGS_IP(%rsp), %r11
	cmpq %rcx, %r11
	jne swapgs_restore_regs_and_return_to_usermode
	movabsq $TASK_SIZE_MAX, %rcx
	cmpq %rcx, %r11
	jae swapgs_restore_regs_and_return_to_usermode
	cmpq $__USER_CS, PTREGS_CS(%rsp)
	jne swapgs_restore_regs_and_return_to_usermode
	movq PTREGS_R11(%rsp), %r11
	cmpq %r11, PTREGS_FLAGS(%rsp)
	jne swapgs_restore_regs_and_return_to_usermode
	testq $(X86_EFLAGS_RF | X86_EFLAGS_TF), %r11
	jnz swapgs_restore_regs_and_return_to_usermode
	cmpq $__USER_DS, PTREGS_SS(%rsp)
	jne swapgs_restore_regs_and_return_to_usermode

SYM_INNER_LABEL(syscall_return_via_sysret)
	POP_REGS                                 /* rcx = user RIP, r11 = user RFLAGS */
	movq PTREGS_SP - PTREGS_ORIG_AX(%rsp), %rsp
SYM_INNER_LABEL(entry_SYSRETQ_unsafe_stack)
	swapgs
	sysretq
SYM_INNER_LABEL(entry_SYSRETQ_end)
	ENTRY_CFI_END
SYM_FUNC_END(entry_SYSCALL_64)

/* SYSCALL from compatibility mode: we have no 32-bit ABI (and no 32-bit user code segment). */
SYM_FUNC_START(entry_SYSCALL_compat)
	mov $-ENOSYS, %eax
	sysretl
SYM_FUNC_END(entry_SYSCALL_compat)

/*
 * Exceptions and interrupts. On entry the stack holds [error code or vector], ip, cs, flags,
 * sp, ss; the first slot is pt_regs->orig_ax. swapgs only when we came from ring 3.
 */
.macro ENTRY_SAVE_REGS
	cld
	testb $3, PTREGS_CS - PTREGS_ORIG_AX(%rsp)
	jz 1f
	swapgs
1:
	PUSH_REGS
.endm

.macro IDTENTRY vector, name, has_error_code
SYM_FUNC_START(asm_exc_\name)
	ENTRY_CFI_START
	.if \has_error_code == 0
	pushq $-1
	.endif
	ENTRY_SAVE_REGS
	TLS_SWITCH_TO_KERNEL TLS_CAUSE_EXCEPTION_ENTRY
	movq %rsp, %rdi
	movl $\vector, %esi
	movq PTREGS_ORIG_AX(%rsp), %rdx
	movq $-1, PTREGS_ORIG_AX(%rsp)
	call do_exception
	TLS_SWITCH_TO_APP TLS_CAUSE_EXCEPTION_EXIT
	jmp common_exception_return
	ENTRY_CFI_END
SYM_FUNC_END(asm_exc_\name)
.endm

IDTENTRY 0, divide_error, 0
IDTENTRY 1, debug, 0
IDTENTRY 2, nmi, 0
IDTENTRY 3, int3, 0
IDTENTRY 4, overflow, 0
IDTENTRY 5, bounds, 0
IDTENTRY 6, invalid_op, 0
IDTENTRY 7, device_not_available, 0
IDTENTRY 8, double_fault, 1
IDTENTRY 9, coproc_segment_overrun, 0
IDTENTRY 10, invalid_tss, 1
IDTENTRY 11, segment_not_present, 1
IDTENTRY 12, stack_segment, 1
IDTENTRY 13, general_protection, 1
IDTENTRY 14, page_fault, 1
IDTENTRY 15, spurious_interrupt_bug, 0
IDTENTRY 16, coprocessor_error, 0
IDTENTRY 17, alignment_check, 1
IDTENTRY 18, machine_check, 0
IDTENTRY 19, simd_coprocessor_error, 0
IDTENTRY 20, virtualization_exception, 0
IDTENTRY 21, control_protection, 1
IDTENTRY 22, reserved_22, 0
IDTENTRY 23, reserved_23, 0
IDTENTRY 24, reserved_24, 0
IDTENTRY 25, reserved_25, 0
IDTENTRY 26, reserved_26, 0
IDTENTRY 27, reserved_27, 0
IDTENTRY 28, hypervisor_injection, 0
IDTENTRY 29, vmm_communication, 1
IDTENTRY 30, security_exception, 1
IDTENTRY 31, reserved_31, 0

/* Vectors 32..255: each stub pushes its vector into the orig_ax slot (as Linux does). */
	.p2align 4
SYM_FUNC_START(irq_entries_start)
	.set vector, 32
	.rept 256 - 32
	pushq $vector
	jmp asm_common_interrupt
	.p2align 4
	.set vector, vector + 1
	.endr
SYM_FUNC_END(irq_entries_start)

SYM_FUNC_START(asm_common_interrupt)
	ENTRY_CFI_START
	ENTRY_SAVE_REGS
	TLS_SWITCH_TO_KERNEL TLS_CAUSE_IRQ_ENTRY
	movq %rsp, %rdi
	movq PTREGS_ORIG_AX(%rsp), %rsi
	movq $-1, PTREGS_ORIG_AX(%rsp)
	call do_irq
	TLS_SWITCH_TO_APP TLS_CAUSE_IRQ_EXIT
	jmp common_exception_return
	ENTRY_CFI_END
SYM_FUNC_END(asm_common_interrupt)

SYM_FUNC_START(common_exception_return)
	testb $3, PTREGS_CS(%rsp)
	jz restore_regs_and_return_to_kernel
SYM_INNER_LABEL(swapgs_restore_regs_and_return_to_usermode)
	POP_REGS
	addq $8, %rsp                            /* orig_ax */
	swapgs
SYM_INNER_LABEL(native_irq_return_iret)
	iretq
SYM_INNER_LABEL(restore_regs_and_return_to_kernel)
	POP_REGS
	addq $8, %rsp
SYM_INNER_LABEL(native_irq_return_iret_kernel)
	iretq
SYM_FUNC_END(common_exception_return)

/*
 * struct task *__switch_to_asm(struct task *prev, struct task *next): save callee-saved
 * registers and the stack pointer in prev->thread.sp, resume next from its own. Returns
 * prev (in next's context: the task that ran before on this CPU), as Linux's does.
 */
SYM_FUNC_START(__switch_to_asm)
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, TASK_thread_sp(%rdi)
	movq TASK_thread_sp(%rsi), %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	movq %rdi, %rax
	ret
SYM_FUNC_END(__switch_to_asm)

/*
 * A new task's first kernel-side instruction, from __switch_to_asm: ret_from_fork(regs, fn,
 * arg) with rbx = fn, r12 = arg for a kernel thread (which never comes back), rbx = r12 = 0
 * for a process, which then IRETs to ring 3.
 */
SYM_FUNC_START(ret_from_fork_asm)
	ENTRY_CFI_START
	movq %rsp, %rdi                          /* the task's pt_regs sit right here */
	movq %rbx, %rsi
	movq %r12, %rdx
	movq %rax, %rcx                          /* prev, from __switch_to_asm */
	call ret_from_fork
	TLS_SWITCH_TO_APP TLS_CAUSE_RET_FROM_FORK
	jmp swapgs_restore_regs_and_return_to_usermode
	ENTRY_CFI_END
SYM_FUNC_END(ret_from_fork_asm)
