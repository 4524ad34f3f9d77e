/* Several CPUs: which are up, which one we run on (arch/smp.c). */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#include "compiler.h"
#include "percpu.h"
#include "smp_defs.h"

struct mm;

extern int nr_cpus; /* CPUs up (the boot CPU and the APs that answered) */
extern struct percpu *percpu_of[NR_CPUS];
extern u8 apic_id_of[NR_CPUS]; /* local APIC id of each CPU */

static inline int nr_cpus_online(void)
{
	return nr_cpus;
}

static inline u64 cpus_online_mask(void)
{
	return nr_cpus >= 64 ? ~0UL : (1UL << nr_cpus) - 1;
}

static __always_inline int this_cpu_id(void)
{
	int cpu;
	__asm__ volatile("movl %%gs:%c1, %0" : "=r"(cpu) : "i"(PERCPU_cpu));
	return cpu;
}

/*
 * The kernel lock: one CPU at a time runs kernel code that touches shared state (tasks,
 * memory, page tables); taken on every entry to C (syscall, interrupt, exception), held
 * across context switches (it belongs to the CPU, not the task) and dropped on the way back
 * to user mode or into the idle halt. Recursive on the CPU that holds it. While a CPU waits
 * for it, it still answers TLB shootdowns, so a holder may wait for the others.
 */
void kernel_lock(void);
void kernel_unlock(void);
int kernel_lock_depth(void); /* of this CPU: 0 when another CPU (or none) holds it */
void kernel_lock_set_depth(int depth);

/* A spinlock with interrupts off (the console and the ground-truth log). */
typedef struct {
	volatile int locked;
} spinlock_t;
unsigned long spin_lock_irqsave(spinlock_t *lock);
void spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags);

/* Page tables of mm changed: other CPUs running it flush their TLB before this returns. */
void tlb_shootdown(struct mm *mm);
/* Wake an idle CPU to look for work (a task became runnable). */
void kick_idle_cpu(void);

void smp_boot(void); /* the boot CPU starts the others (INIT-SIPI-SIPI) */
void lapic_eoi(void);
void lapic_timer_interrupt(void);
void __noreturn ap_idle_loop(void);

/* The per-CPU area GS_BASE points at, or NULL (the user's GS, mid-entry; early boot). */
struct percpu *percpu_from_gs_base(void);
/* This CPU's number from its local APIC id (CPUID), valid whatever GS holds. */
int cpu_from_apic_id(void);

#endif
