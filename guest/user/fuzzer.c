/*
 * Syscall fuzzer for the guest kernel (do not run it on a real machine):
 *   fuzzer COUNT [SEED [THREADS]]
 * Makes COUNT raw syscalls (split over THREADS threads, default 1, each with its own arena and
 * random sequence) with random numbers and arguments drawn from pools that include
 * kernel addresses, the direct map, non-canonical values and huge lengths. Anything that
 * could legitimately end or corrupt this process (exit, signals to itself, unmapping its own
 * image/stack/heap, closing stdout, long sleeps, changing FS) is steered away or undone, so
 * surviving to print the summary means the kernel survived.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 16

#define ARENA_PAGES 16
#define PAGE 4096UL

/* per thread: each fuzzing thread has its own sequence, arena and FS */
static __thread unsigned long rng_state;
static __thread unsigned char *arena; /* the only user memory random pointers may point into */
static __thread unsigned long saved_fs;
static __thread unsigned long results[5]; /* ok, EFAULT, EINVAL, ENOSYS, other errors */
static const long short_sleep[2] = { 0, 1000 };

static const int implemented[] = {
	0,   1,	  2,   3,   4,	 5,   6,   8,	9,   10,  11,  12,  13,	 14,  16,  17,	18,
	19,  20,  21,  24,  35,	 39,  61,  62,	63,  72,  79,  89,  95,	 96,  97,  102, 104,
	107, 108, 110, 131, 158, 160, 186, 200, 201, 202, 218, 228, 229, 230, 234, 257, 262,
	267, 269, 273, 295, 296, 302, 318, 334, 439, 28,  202, 203, 204, 309,
};

static unsigned long rnd(void)
{
	unsigned long x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static long raw(long n, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* An address nobody but the fuzz target cares about. */
static unsigned long random_address(void)
{
	switch (rnd() % 9) {
	case 0:
		return 0;
	case 1:
		return rnd() % 0x10000; /* low, unmapped */
	case 2:
		return 0xffffffff80000000UL + rnd() % (16UL << 20); /* kernel image */
	case 3:
		return 0xffff888000000000UL + rnd() % (256UL << 20); /* direct map */
	case 4:
		return 0x0000800000000000UL + rnd() % (1UL << 40); /* non-canonical */
	case 5:
		return 0x8000000000000000UL | rnd(); /* non-canonical */
	case 6:
		return (unsigned long)arena + rnd() % (ARENA_PAGES * PAGE);
	case 7:
		return (unsigned long)arena + (rnd() % ARENA_PAGES) * PAGE; /* page-aligned */
	default:
		return rnd();
	}
}

/*
 * For mmap/munmap/mprotect/brk/mremap/madvise: the arena or addresses that are never user
 * memory, so a huge length cannot reach our own image, heap or stack.
 */
static unsigned long random_mm_address(void)
{
	switch (rnd() % 6) {
	case 0:
		return 0xffffffff80000000UL + rnd() % (16UL << 20);
	case 1:
		return 0xffff888000000000UL + rnd() % (256UL << 20);
	case 2:
		return 0x0000800000000000UL | rnd();
	case 3:
		return (unsigned long)arena + rnd() % (ARENA_PAGES * PAGE);
	default:
		return (unsigned long)arena + (rnd() % ARENA_PAGES) * PAGE;
	}
}

static unsigned long random_arg(void)
{
	switch (rnd() % 10) {
	case 0:
		return 0;
	case 1:
		return rnd() % 8;
	case 2:
		return rnd() % 4096;
	case 3:
		return (unsigned long)-(long)(rnd() % 4096);
	case 4:
		return 0x7fffffff;
	case 5:
		return 1UL << (rnd() % 64);
	default:
		return random_address();
	}
}

static long random_nr(void)
{
	unsigned r = rnd() % 10;
	if (r < 5)
		return implemented[rnd() % (sizeof(implemented) / sizeof(implemented[0]))];
	if (r < 9)
		return rnd() % 600;
	switch (rnd() % 4) {
	case 0:
		return -1;
	case 1:
		return 0x40000000 | (rnd() % 600); /* x32 ABI bit */
	case 2:
		return (long)((rnd() << 32) | (rnd() % 600)); /* upper half ignored */
	default:
		return (long)rnd();
	}
}

/* Keep the call from ending or corrupting this process; returns 0 to skip it. */
static int steer(unsigned nr, unsigned long a[6])
{
	switch (nr) {
	case 60:
	case 231: /* exit, exit_group */
		return 0;
	case 62:
	case 200: /* kill, tkill: existence checks only */
		a[1] = 0;
		return 1;
	case 234: /* tgkill */
		a[2] = 0;
		return 1;
	case 1:
	case 18:
	case 20:
	case 296: /* writes: not to the console (noise), fd stays bad */
	case 3:	  /* close: keep stdout */
		if (a[0] < 3)
			a[0] = 1000 + a[0];
		return 1;
	case 56:
	case 435: /* clone, clone3: a thread on a random stack would take the process down */
	case 218: /* set_tid_address: pthread_join waits for the kernel to clear the real one */
		return 0;
	case 202: /* futex: a wait on a zero arena word would never end; time out at once */
		a[3] = (unsigned long)short_sleep;
		return 1;
	case 35: /* nanosleep: the arena may hold a real, long timespec */
		a[0] = rnd() % 2 ? (unsigned long)short_sleep : random_mm_address() | (1UL << 47);
		return 1;
	case 230: /* clock_nanosleep */
		a[2] = rnd() % 2 ? (unsigned long)short_sleep : random_mm_address() | (1UL << 47);
		return 1;
	case 9:
	case 10:
	case 11:
	case 12:
	case 25:
	case 28: /* mmap mprotect munmap brk mremap madvise */
		a[0] = random_mm_address();
		if (a[0] < 0x0000800000000000UL) /* in the arena: stay inside it */
			a[1] %= (unsigned long)arena + ARENA_PAGES * PAGE - a[0] + 1;
		return 1;
	default:
		return 1;
	}
}

static void reset_arena(void)
{
	/* MAP_FIXED over the arena: fuzzed mprotect/munmap/mmap may have changed it. */
	long p = raw(9, (long)arena, ARENA_PAGES * PAGE, 3, 0x32, -1, 0);
	if (p != (long)arena) {
		printf("fuzzer: cannot reset the arena (%ld)\n", p);
		exit(1);
	}
}

struct fuzz_run {
	long count;
	unsigned long seed;
	long pid;
	int failed;
	unsigned long results[5];
};

static void *fuzz(void *arg)
{
	struct fuzz_run *run = arg;
	rng_state = run->seed ? run->seed : 1;
	/* The arena sits between two unmapped guard pages, so overruns fault instead of hitting us. */
	long base = raw(9, 0, (ARENA_PAGES + 2) * PAGE, 3, 0x22, -1, 0);
	if (base < 0) {
		printf("fuzzer: mmap failed (%ld)\n", base);
		run->failed = 1;
		return NULL;
	}
	arena = (unsigned char *)base + PAGE;
	raw(11, base, PAGE, 0, 0, 0, 0);
	raw(11, (long)arena + ARENA_PAGES * PAGE, PAGE, 0, 0, 0, 0);
	raw(158, 0x1003, (long)&saved_fs, 0, 0, 0, 0);

	for (long i = 0; i < run->count; i++) {
		long nr = random_nr();
		unsigned long a[6];
		for (int j = 0; j < 6; j++)
			a[j] = random_arg();
		if (!steer((unsigned)nr, a))
			continue;
		long ret = raw(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		unsigned nr32 = (unsigned)nr;
		if (nr32 == 158) { /* put our TLS and GS back */
			raw(158, 0x1002, (long)saved_fs, 0, 0, 0, 0);
			raw(158, 0x1001, 0, 0, 0, 0, 0);
		}
		if (nr32 == 9 && ret > 0 &&
		    ((unsigned long)ret < (unsigned long)arena ||
		     (unsigned long)ret >= (unsigned long)arena + ARENA_PAGES * PAGE))
			raw(11, ret, (long)(a[1] ? a[1] : 1), 0, 0, 0, 0); /* don't leak memory */
		results[ret >= 0 ? 0 : ret == -14 ? 1 : ret == -22 ? 2 : ret == -38 ? 3 : 4]++;
		if (i % 1024 == 0)
			reset_arena();
	}

	if (raw(39, 0, 0, 0, 0, 0, 0) != run->pid) {
		printf("fuzzer: getpid changed!\n");
		run->failed = 1;
	}
	memcpy(run->results, results, sizeof(results));
	return NULL;
}

int main(int argc, char **argv)
{
	static struct fuzz_run runs[MAX_THREADS];
	static pthread_t threads[MAX_THREADS];
	if (argc < 2) {
		fprintf(stderr, "usage: fuzzer COUNT [SEED [THREADS]]\n");
		return 2;
	}
	long count = atol(argv[1]);
	unsigned long seed = argc > 2 ? strtoul(argv[2], NULL, 0) : 0x9e3779b97f4a7c15UL;
	int nthreads = argc > 3 ? atoi(argv[3]) : 1;
	if (!seed)
		seed = 1;
	if (nthreads < 1 || nthreads > MAX_THREADS) {
		fprintf(stderr, "fuzzer: THREADS must be 1..%d\n", MAX_THREADS);
		return 2;
	}
	if (nthreads == 1)
		printf("fuzzer: %ld syscalls, seed %#lx\n", count, seed);
	else
		printf("fuzzer: %ld syscalls, seed %#lx, %d threads\n", count, seed, nthreads);
	fflush(stdout);

	long pid = raw(39, 0, 0, 0, 0, 0, 0);
	for (int t = 0; t < nthreads; t++) {
		runs[t].count = count / nthreads + (t < count % nthreads);
		runs[t].seed = seed + t * 0x9e3779b97f4a7c15UL;
		runs[t].pid = pid;
	}
	for (int t = 1; t < nthreads; t++)
		if (pthread_create(&threads[t], NULL, fuzz, &runs[t])) {
			printf("fuzzer: pthread_create failed\n");
			return 1;
		}
	fuzz(&runs[0]);
	unsigned long total[5] = { 0 };
	int failed = 0;
	for (int t = 0; t < nthreads; t++) {
		if (t)
			pthread_join(threads[t], NULL);
		failed |= runs[t].failed;
		for (int k = 0; k < 5; k++)
			total[k] += runs[t].results[k];
	}
	if (failed)
		return 1;
	printf("fuzzer: done: %lu ok, %lu EFAULT, %lu EINVAL, %lu ENOSYS, %lu other errors\n",
	       total[0], total[1], total[2], total[3], total[4]);
	return 0;
}
