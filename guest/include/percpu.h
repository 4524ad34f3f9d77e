/* The per-CPU area, reached through %gs while in the kernel (GS_BASE = &area). */
#ifndef GUEST_PERCPU_H
#define GUEST_PERCPU_H

#define NR_CPUS 4 /* qemu/boot --smp 1..4 */

#define PERCPU_self 0
#define PERCPU_user_rsp_scratch 8
#define PERCPU_top_of_stack 16
#define PERCPU_cpu 24
#define PERCPU_current_task 32
#define PERCPU_irq_count 40
#define PERCPU_fs_base_loaded 48
#define PERCPU_kernel_tcb 56
#define PERCPU_ftrace_ring 64

#ifndef __ASSEMBLER__
#include "compiler.h"

struct task;
struct ftrace_ring;
struct x86_hw_tss;

struct percpu {
	struct percpu *self;		/* first word points to the area itself */
	unsigned long user_rsp_scratch; /* user RSP parked here by entry_SYSCALL_64 */
	unsigned long top_of_stack;	/* kernel stack top of the current task (= TSS.rsp0) */
	int cpu;
	struct task *current_task;
	unsigned long irq_count;      /* interrupts taken on this CPU */
	unsigned long fs_base_loaded; /* what FS_BASE holds (every kernel write updates it) */
	/*
	 * The running thread's kernel TCB (its kernel TLS thread pointer), updated by every
	 * context switch in every scheme: tls=osv compares fs:0 with it on entry (OSv's
	 * _current_thread_kernel_tcb), tls=gs reaches the kernel's thread-locals through it.
	 */
	unsigned long kernel_tcb;
	struct ftrace_ring *ftrace_ring; /* this CPU's function-graph ring buffer */
	struct task *idle;		 /* this CPU's idle task (pid 0) */
	struct x86_hw_tss *tss;		 /* this CPU's TSS (sp0 follows the running task) */
	volatile int tlb_flush_pending;	 /* another CPU changed the page tables we run on */
	bool fs0_checking;		 /* tls=osv: in tls_switch_to_kernel's fs:0 read */
};

extern struct percpu cpu0_percpu;
extern bool percpu_ready; /* GS_BASE points at this CPU's area */

/* Read our own per-CPU area through %gs, as the entry code does. */
static __always_inline struct percpu *this_cpu(void)
{
	struct percpu *p;
	__asm__ volatile("movq %%gs:0, %0" : "=r"(p));
	return p;
}

static __always_inline unsigned long this_cpu_kernel_tcb(void)
{
	unsigned long v;
	__asm__ volatile("movq %%gs:%c1, %0" : "=r"(v) : "i"(PERCPU_kernel_tcb));
	return v;
}
#endif

#endif
