/* The per-CPU area, reached through %gs while in the kernel (GS_BASE = &area). */
#ifndef GUEST_PERCPU_H
#define GUEST_PERCPU_H

#define PERCPU_self 0
#define PERCPU_user_rsp_scratch 8
#define PERCPU_top_of_stack 16
#define PERCPU_cpu 24
#define PERCPU_current_task 32

#ifndef __ASSEMBLER__
#include "compiler.h"

struct task;

struct percpu {
	struct percpu *self;		/* first word points to the area itself */
	unsigned long user_rsp_scratch; /* user RSP parked here by entry_SYSCALL_64 */
	unsigned long top_of_stack;	/* kernel stack top of the current task (= TSS.rsp0) */
	int cpu;
	struct task *current_task;
	unsigned long irq_count;      /* interrupts taken on this CPU */
	unsigned long fs_base_loaded; /* what FS_BASE currently holds (user value) */
	unsigned long kernel_tcb;     /* reserved for the tls=osv scheme */
};

extern struct percpu cpu0_percpu;

/* Read our own per-CPU area through %gs, as the entry code does. */
static inline struct percpu *this_cpu(void)
{
	struct percpu *p;
	__asm__ volatile("movq %%gs:0, %0" : "=r"(p));
	return p;
}
#endif

#endif
