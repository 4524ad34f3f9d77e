/*
 * __thread variables must survive every syscall: the kernel may never touch the user's FS base
 * (tls=linux) or must restore it exactly (other schemes). Values depend on the pid so that two
 * copies running at once check different data.
 *
 *   tls [ITERATIONS]
 */
#define _GNU_SOURCE
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

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 100;
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
		if (failures > 10)
			break;
	}
	if (failures) {
		printf("tls: FAILED (%d mismatches, pid %lu)\n", failures, seed);
		return 1;
	}
	printf("tls: OK (%d rounds, pid %lu, fs_base %#lx)\n", rounds, seed, fs_base());
	return 0;
}
