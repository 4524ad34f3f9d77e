/* Several CPUs: which are up, which one we run on (arch/smp.c). */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#include "compiler.h"
#include "percpu.h"

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

/* The per-CPU area GS_BASE points at, or NULL (the user's GS, mid-entry; early boot). */
struct percpu *percpu_from_gs_base(void);
/* This CPU's number from its local APIC id (CPUID), valid whatever GS holds. */
int cpu_from_apic_id(void);

#endif
