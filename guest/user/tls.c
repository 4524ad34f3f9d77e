/*
 * __thread variables must survive every syscall, interrupt, page fault and preemption: the kernel
 * may never touch the user's FS base (tls=linux, gs) or must restore it exactly (osv). Values
 * depend on the pid so that two copies running at once check different data.
 *
 *   tls [ROUNDS [SPIN]]
 *
 * SPIN > 0 adds a busy loop of SPIN iterations per round (rewriting the thread-locals as it
 * goes) followed by a check, so that timer preemption lands between checks; gaps in the TSC
 * larger than a few milliseconds are counted as preemptions seen.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define ARCH_GET_FS 0x1003

static __thread long tls_init = 0x1234567890abcdefL;
static __thread int tls_zero;
static __thread char tls_text[32] = "thread-local text";
static __thread unsigned long tls_array[16];

static unsigned long seed;
static int failures;
static unsigned long preemptions;

#define PREEMPTION_GAP_TSC 5000000UL /* ~2 ms at 2.7 GHz: far more than one loop step */

static unsigned long expected_array(int i, int round)
{
	return seed * 31 + i * 7 + round;
}

static void fill(int round)
{
	tls_init = (long)(seed ^ (unsigned long)round);
	tls_zero = round;
	snprintf(tls_text, sizeof(tls_text), "pid %lu round %d", seed, round);
	for (int i = 0; i < 16; i++)
		tls_array[i] = expected_array(i, round);
}

static unsigned long fs_base(void)
{
	unsigned long v = 0;
	syscall(SYS_arch_prctl, ARCH_GET_FS, &v);
	return v;
}

static void check(const char *after, int round)
{
	char text[32];
	snprintf(text, sizeof(text), "pid %lu round %d", seed, round);
	int bad = tls_init != (long)(seed ^ (unsigned long)round) || tls_zero != round ||
		  strcmp(tls_text, text) != 0;
	for (int i = 0; i < 16; i++)
		bad |= tls_array[i] != expected_array(i, round);
	/* glibc's isprint reads its ctype table pointer from TLS too */
	for (const char *p = tls_text; *p; p++)
		bad |= !isprint((unsigned char)*p);
	/* The TCB's first word points to itself (x86-64 TLS ABI): FS base is still ours. */
	unsigned long self;
	__asm__ volatile("movq %%fs:0, %0" : "=r"(self));
	bad |= self != fs_base();
	if (bad) {
		failures++;
		printf("tls: MISMATCH after %s in round %d: init=%lx zero=%d text='%s' fs:0=%lx\n",
		       after, round, tls_init, tls_zero, tls_text, self);
	}
}

static unsigned long rdtsc(void)
{
	unsigned lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (unsigned long)hi << 32 | lo;
}

/* Busy work on the thread-locals; the timer preempts us somewhere in here. */
static void spin(long iterations, int round)
{
	unsigned long last = rdtsc();
	for (long i = 0; i < iterations; i++) {
		tls_array[i & 15] = expected_array(i & 15, round);
		tls_zero = round;
		unsigned long now = rdtsc();
		if (now - last > PREEMPTION_GAP_TSC)
			preemptions++;
		last = now;
	}
}

/* Heap and anonymous pages touched for the first time: page faults under lazymm=1. */
static void touch_new_pages(long cur)
{
	if (syscall(SYS_brk, cur + 8192) != cur + 8192)
		failures++, printf("tls: brk failed\n");
	((volatile char *)cur)[0] = 1;
	((volatile char *)cur)[8191] = 1;
	if (syscall(SYS_brk, cur) != cur)
		failures++, printf("tls: brk failed\n");
	char *p = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		failures++, printf("tls: mmap failed\n");
		return;
	}
	for (int i = 0; i < 3; i++)
		((volatile char *)p)[i * 4096] = (char)i;
	munmap(p, 3 * 4096);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 100;
	long spin_iterations = argc > 2 ? atol(argv[2]) : 0;
	struct timespec ts = { 0, 1000 };
	seed = (unsigned long)getpid();

	if (tls_init != 0x1234567890abcdefL || tls_zero != 0 ||
	    strcmp(tls_text, "thread-local text"))
		failures++, printf("tls: bad initial values\n");
	for (int i = 0; i < 16; i++)
		if (tls_array[i])
			failures++, printf("tls: tls_array[%d] not zero-initialised\n", i);

	for (int round = 0; round < rounds; round++) {
		fill(round);
		write(1, "", 0);
		check("write", round);
		getpid();
		check("getpid", round);
		sched_yield();
		check("sched_yield", round);
		nanosleep(&ts, NULL);
		check("nanosleep", round);
		/* raw brk: musl's brk()/sbrk() refuse to move the break */
		long cur = syscall(SYS_brk, 0);
		if (syscall(SYS_brk, cur + 4096) != cur + 4096 || syscall(SYS_brk, cur) != cur)
			failures++, printf("tls: brk failed\n");
		check("brk", round);
		void *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			       0);
		if (p == MAP_FAILED || munmap(p, 8192))
			failures++, printf("tls: mmap/munmap failed\n");
		check("mmap/munmap", round);
		clock_gettime(CLOCK_MONOTONIC, &(struct timespec){ 0 });
		check("clock_gettime", round);
		unsigned char rnd[8];
		getrandom(rnd, sizeof(rnd), 0);
		check("getrandom", round);
		struct utsname u;
		uname(&u);
		check("uname", round);
		touch_new_pages(syscall(SYS_brk, 0));
		check("page faults", round);
		if (spin_iterations) {
			spin(spin_iterations, round);
			check("preemption", round);
		}
		if (failures > 10)
			break;
	}
	if (failures) {
		printf("tls: FAILED (%d mismatches, pid %lu)\n", failures, seed);
		return 1;
	}
	printf("tls: OK (%d rounds, pid %lu, fs_base %#lx, %lu preemptions seen)\n", rounds, seed,
	       fs_base(), preemptions);
	return 0;
}
