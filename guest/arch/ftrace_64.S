/*
 * The -pg -mfentry hooks (Linux's names, arch/x86/kernel/ftrace_64.S). Every instrumented
 * function starts with `call __fentry__`; with ftrace_enabled clear that costs the call, one
 * compare and a predicted branch. Layout and controls: include/ftrace.h, guest/README.md.
 */
#define MCOUNT_INSN_SIZE 5

#define SYM_FUNC_START(name) .globl name; .type name, @function; .p2align 4; name:
#define SYM_FUNC_END(name) .size name, . - name

	.cfi_sections .debug_frame
	.text

SYM_FUNC_START(__fentry__)
	cmpl $0, ftrace_enabled(%rip)
	jne ftrace_caller
	ret
SYM_FUNC_END(__fentry__)

/*
 * On entry [rsp] is the return address into the traced function F (F + 5) and [rsp + 8] is
 * F's own return address: prepare_ftrace_return(F, &that slot) may swap it for
 * return_to_handler. F's argument registers (and rax: the vararg count) are preserved.
 */
SYM_FUNC_START(ftrace_caller)
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	movq 72(%rsp), %rdi
	subq $MCOUNT_INSN_SIZE, %rdi
	leaq 80(%rsp), %rsi
	call prepare_ftrace_return
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rax
	ret
SYM_FUNC_END(ftrace_caller)

/*
 * A hooked function returns here instead of to its caller: record the exit with RAX as the
 * return value, then jump to the real return address from the task's shadow stack.
 */
SYM_FUNC_START(return_to_handler)
	subq $16, %rsp
	movq %rax, (%rsp)
	movq %rdx, 8(%rsp)
	movq %rax, %rdi
	call ftrace_return_to_handler
	movq %rax, %rdi
	movq 8(%rsp), %rdx
	movq (%rsp), %rax
	addq $16, %rsp
	jmp *%rdi
SYM_FUNC_END(return_to_handler)
