/*
 * The vDSO: clock_gettime, gettimeofday, time and getcpu without entering the kernel, as
 * Linux's (symbols __vdso_* and their plain names, version LINUX_2.6). Built as a real ELF
 * shared object (vdso.lds), embedded in the kernel and mapped into every process
 * (AT_SYSINFO_EHDR); it reads the TSC and the data page the kernel maps just below it.
 */
#include "../include/vdso_data.h"

struct timespec_v {
	long tv_sec, tv_nsec;
};
struct timeval_v {
	long tv_sec, tv_usec;
};

/* vdso.lds: one page below the vDSO's first byte; reached PC-relative, no relocation */
extern const struct vdso_data vvar_data __attribute__((visibility("hidden")));

#define NSEC_PER_SEC 1000000000UL

static inline unsigned long rdtsc_ordered(void)
{
	unsigned lo, hi;
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((unsigned long)hi << 32) | lo;
}

static unsigned long monotonic_ns(void)
{
	const volatile struct vdso_data *d = &vvar_data;
	unsigned long delta = rdtsc_ordered() - d->tsc_at_boot;
	return (unsigned long)(((unsigned __int128)delta * d->tsc_mult) >> 32);
}

static long syscall2(long nr, long a, long b)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
	return ret;
}

int __vdso_clock_gettime(int clk, struct timespec_v *ts)
{
	unsigned long ns;
	switch (clk) {
	case 0:	 /* CLOCK_REALTIME */
	case 5:	 /* CLOCK_REALTIME_COARSE */
	case 11: /* CLOCK_TAI */
		ns = vvar_data.realtime_at_boot_ns + monotonic_ns();
		break;
	case 1: /* CLOCK_MONOTONIC */
	case 4: /* CLOCK_MONOTONIC_RAW */
	case 6: /* CLOCK_MONOTONIC_COARSE */
	case 7: /* CLOCK_BOOTTIME */
		ns = monotonic_ns();
		break;
	default: /* CPU-time clocks and invalid ids: the kernel answers */
		return (int)syscall2(228, clk, (long)ts);
	}
	ts->tv_sec = ns / NSEC_PER_SEC;
	ts->tv_nsec = ns % NSEC_PER_SEC;
	return 0;
}

int __vdso_gettimeofday(struct timeval_v *tv, void *tz)
{
	if (tv) {
		unsigned long ns = vvar_data.realtime_at_boot_ns + monotonic_ns();
		tv->tv_sec = ns / NSEC_PER_SEC;
		tv->tv_usec = ns % NSEC_PER_SEC / 1000;
	}
	if (tz) {
		((int *)tz)[0] = 0; /* minutes west, DST: UTC */
		((int *)tz)[1] = 0;
	}
	return 0;
}

long __vdso_time(long *t)
{
	long now = (long)((vvar_data.realtime_at_boot_ns + monotonic_ns()) / NSEC_PER_SEC);
	if (t)
		*t = now;
	return now;
}

long __vdso_getcpu(unsigned *cpu, unsigned *node, void *cache)
{
	unsigned long p;
	(void)cache;
	__asm__("lsl %1, %0" : "=r"(p) : "r"((unsigned long)PER_CPU_SELECTOR));
	if (cpu)
		*cpu = p & 0xfff;
	if (node)
		*node = p >> 12;
	return 0;
}

int clock_gettime(int, struct timespec_v *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct timeval_v *, void *) __attribute__((weak, alias("__vdso_gettimeofday")));
long time(long *) __attribute__((weak, alias("__vdso_time")));
long getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
