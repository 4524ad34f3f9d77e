/* Small wrappers around privileged x86 instructions. */
#ifndef GUEST_CPU_H
#define GUEST_CPU_H

#include "compiler.h"

static inline void outb(u16 port, u8 v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outw(u16 port, u16 v)
{
	__asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outl(u16 port, u32 v)
{
	__asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}
static inline u8 inb(u16 port)
{
	u8 v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline void outsb(u16 port, const void *buf, unsigned long n)
{
	__asm__ volatile("rep outsb" : "+S"(buf), "+c"(n) : "d"(port) : "memory");
}

static inline void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

static inline unsigned long read_cr2(void)
{
	unsigned long v;
	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}
static inline unsigned long read_cr3(void)
{
	unsigned long v;
	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}
static inline void write_cr3(unsigned long v)
{
	__asm__ volatile("mov %0, %%cr3" ::"r"(v) : "memory");
}
static inline unsigned long read_cr4(void)
{
	unsigned long v;
	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}
static inline void write_cr4(unsigned long v)
{
	__asm__ volatile("mov %0, %%cr4" ::"r"(v) : "memory");
}
static inline void invlpg(unsigned long va)
{
	__asm__ volatile("invlpg (%0)" ::"r"(va) : "memory");
}
static inline void cli(void)
{
	__asm__ volatile("cli" ::: "memory");
}
static inline void sti(void)
{
	__asm__ volatile("sti" ::: "memory");
}
/* sti;hlt is atomic with respect to interrupts: no wakeup is lost in between. */
static inline void safe_halt(void)
{
	__asm__ volatile("sti; hlt; cli" ::: "memory");
}
static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}
/*
 * The boot's timed waits (clock calibration, AP start-up delays) under QEMU's -icount, where
 * guest time is instructions: on a page holding a debugger's breakpoint QEMU runs every
 * instruction as a block of its own, and each look at a clock (rdtsc, a port) ends a block
 * too, so a wait of nothing but looks cost ~100x its length in real time (a 2-CPU boot under
 * the tracer took 4.5 s instead of 0.2). So the waits live on pages of their own
 * (__wait_text, kernel.ld) and look at the clock every thousand or so plain instructions:
 * a look per guest microsecond is precise enough for them.
 */
#define __wait_text __attribute__((section(".text.wait"))) noinline
static inline void delay_relax(void)
{
	for (unsigned i = 0; i < 256; i++)
		__asm__ volatile("" ::: "memory");
}

#define X86_CR4_PGE (1UL << 7)
#define X86_CR4_OSFXSR (1UL << 9)
#define X86_CR4_FSGSBASE (1UL << 16)
#define X86_CR4_SMEP (1UL << 20)
#define X86_CR4_SMAP (1UL << 21)

struct cpu_features {
	u32 hwcap; /* CPUID.1:EDX, what Linux reports as AT_HWCAP */
	bool fsgsbase, smep, smap, rdrand, nx;
	bool smap_on; /* CR4.SMAP set (off under tls=broken: the kernel then uses the app's TCB) */
};
extern struct cpu_features boot_cpu;

#endif
