/* Model-specific registers. Every MSR write in the kernel goes through wrmsr() below. */
#ifndef GUEST_MSR_H
#define GUEST_MSR_H

#define MSR_EFER 0xc0000080
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_FS_BASE 0xc0000100
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102

#define EFER_SCE (1 << 0)
#define EFER_LME (1 << 8)
#define EFER_NX (1 << 11)

#ifndef __ASSEMBLER__
#include "compiler.h"

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}

static inline void native_wrmsr(u32 msr, u64 val)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((u32)val), "d"((u32)(val >> 32)) : "memory");
}

/* The one 64-bit wrmsr site: writes the MSR and records it in the ground-truth log. */
void wrmsr(u32 msr, u64 val);
#endif

#endif
