/*
 * Threads as static glibc and musl programs make them: pthread_create (clone3 / clone with
 * CLONE_SETTLS), join (CLONE_CHILD_CLEARTID + futex), mutexes, condition variables, each
 * thread's own __thread data, pthread_exit, and a contention test: THREADS threads hammer a
 * raw futex lock, a pthread mutex and their own __thread counters for ROUNDS rounds each.
 *
 *   pthread [THREADS [ROUNDS [ITEMS]]]  (defaults 4, 20000 and 200 condvar queue items;
 *                                   output is deterministic)
 *   pthread exit_group              exit(5) while other threads spin, sleep and wait
 *   pthread crash                   a thread faults: the whole process ends (SIGSEGV)
 *   pthread forever                 threads spin, sleep and wait, and nothing ends them
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 16
/* <linux/futex.h> is not on musl-gcc's include path */
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129

static __thread unsigned long tls_counter;
static __thread int tls_index = -1;
static __thread char tls_name[16] = "main";

static int failures;
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL %s:%d: ", __func__, __LINE__);                                \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static long futex(atomic_int *uaddr, int op, int val, const struct timespec *timeout)
{
	return syscall(SYS_futex, uaddr, op, val, timeout, NULL, 0);
}

/* Drepper's "Futexes are tricky" mutex 2: 0 free, 1 locked, 2 locked with waiters. */
static atomic_int raw_lock;
static long shared_raw;
static atomic_long futex_waits;

static void raw_lock_acquire(void)
{
	int c = 0;
	if (atomic_compare_exchange_strong(&raw_lock, &c, 1))
		return;
	if (c != 2)
		c = atomic_exchange(&raw_lock, 2);
	while (c != 0) {
		atomic_fetch_add(&futex_waits, 1);
		futex(&raw_lock, FUTEX_WAIT_PRIVATE, 2, NULL);
		c = atomic_exchange(&raw_lock, 2);
	}
}

static void raw_lock_release(void)
{
	if (atomic_fetch_sub(&raw_lock, 1) != 1) {
		atomic_store(&raw_lock, 0);
		futex(&raw_lock, FUTEX_WAKE_PRIVATE, 1, NULL);
	}
}

/* --- basics ------------------------------------------------------------------------------ */

struct worker {
	int index;
	pid_t tid;
	unsigned long *counter_addr;
	unsigned long result;
};

static void *basic_worker(void *arg)
{
	struct worker *w = arg;
	tls_index = w->index;
	snprintf(tls_name, sizeof(tls_name), "worker%d", w->index);
	w->tid = (pid_t)syscall(SYS_gettid);
	w->counter_addr = &tls_counter;
	for (int i = 0; i <= w->index * 10; i++)
		tls_counter += i;
	sched_yield();
	w->result = tls_counter;
	CHECK(tls_index == w->index, "tls_index %d != %d", tls_index, w->index);
	return (void *)(uintptr_t)(w->index * 100);
}

static void *exiting_worker(void *arg)
{
	(void)arg;
	pthread_exit((void *)(uintptr_t)42);
	return NULL;
}

static void test_basics(void)
{
	struct worker w[3];
	pthread_t th[3];
	pid_t pid = getpid();
	for (int i = 0; i < 3; i++) {
		w[i] = (struct worker){ .index = i + 1 };
		CHECK(pthread_create(&th[i], NULL, basic_worker, &w[i]) == 0, "pthread_create");
	}
	for (int i = 0; i < 3; i++) {
		void *ret;
		CHECK(pthread_join(th[i], &ret) == 0, "pthread_join");
		CHECK((uintptr_t)ret == (uintptr_t)(w[i].index * 100), "join value");
		unsigned long want = 0;
		for (int k = 0; k <= w[i].index * 10; k++)
			want += k;
		CHECK(w[i].result == want, "worker %d counted %lu", i, w[i].result);
		CHECK(w[i].tid != pid && w[i].tid > 0, "tid %d vs pid %d", w[i].tid, pid);
		CHECK(w[i].counter_addr != &tls_counter, "worker %d shares main's __thread", i);
		printf("worker %d: __thread sum %lu, returned %lu\n", w[i].index, w[i].result,
		       (unsigned long)(uintptr_t)ret);
	}
	CHECK(w[0].tid != w[1].tid && w[1].tid != w[2].tid, "distinct tids");
	CHECK(w[0].counter_addr != w[1].counter_addr, "distinct TLS blocks");
	CHECK(tls_counter == 0 && tls_index == -1 && !strcmp(tls_name, "main"),
	      "main's __thread data changed");
	pthread_t ex;
	void *ret = NULL;
	CHECK(pthread_create(&ex, NULL, exiting_worker, NULL) == 0, "create");
	CHECK(pthread_join(ex, &ret) == 0 && (uintptr_t)ret == 42, "pthread_exit value");
	printf("pthread_exit: %lu\n", (unsigned long)(uintptr_t)ret);
}

/* --- condition variable: a bounded queue, producer and consumer -------------------------- */

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_nonempty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t queue_nonfull = PTHREAD_COND_INITIALIZER;
static int queue[4], queue_len;

static void *producer(void *arg)
{
	int n = *(int *)arg;
	for (int i = 1; i <= n; i++) {
		pthread_mutex_lock(&queue_lock);
		while (queue_len == 4)
			pthread_cond_wait(&queue_nonfull, &queue_lock);
		queue[queue_len++] = i;
		pthread_cond_signal(&queue_nonempty);
		pthread_mutex_unlock(&queue_lock);
	}
	return NULL;
}

static void test_condvar(int n)
{
	long sum = 0;
	pthread_t th;
	CHECK(pthread_create(&th, NULL, producer, &n) == 0, "create producer");
	for (int got = 0; got < n; got++) {
		pthread_mutex_lock(&queue_lock);
		while (queue_len == 0)
			pthread_cond_wait(&queue_nonempty, &queue_lock);
		sum += queue[0];
		memmove(queue, queue + 1, --queue_len * sizeof(queue[0]));
		pthread_cond_signal(&queue_nonfull);
		pthread_mutex_unlock(&queue_lock);
	}
	pthread_join(th, NULL);
	CHECK(sum == (long)n * (n + 1) / 2, "sum %ld", sum);
	printf("condvar: %d items, sum %ld\n", n, sum);

	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_nsec += 20 * 1000 * 1000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&queue_lock);
	int rc = pthread_cond_timedwait(&queue_nonempty, &queue_lock, &deadline);
	pthread_mutex_unlock(&queue_lock);
	CHECK(rc == ETIMEDOUT, "timedwait gave %d", rc);
	printf("cond_timedwait: %s\n", rc == ETIMEDOUT ? "timed out" : strerror(rc));

	atomic_int word = 7;
	struct timespec rel = { 0, 5 * 1000 * 1000 };
	long r = futex(&word, FUTEX_WAIT_PRIVATE, 7, &rel);
	CHECK(r == -1 && errno == ETIMEDOUT, "futex timeout: %ld errno %d", r, errno);
	r = futex(&word, FUTEX_WAIT_PRIVATE, 8, &rel);
	CHECK(r == -1 && errno == EAGAIN, "futex value mismatch: %ld errno %d", r, errno);
	printf("futex: timeout and EAGAIN\n");
}

/* --- argument checks that fail the same way on Linux (no call here may succeed) --------- */

static void test_clone_errors(void)
{
	const unsigned long thread = 0x3d0f00; /* glibc's pthread_create flags */
	unsigned long args[11] = { thread, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	errno = 0;
	CHECK(syscall(SYS_clone3, (void *)16, 88) == -1 && errno == EFAULT, "clone3 bad args");
	CHECK(syscall(SYS_clone3, args, 8) == -1 && errno == EINVAL, "clone3 short size");
	args[5] = 4096; /* stack without stack_size */
	CHECK(syscall(SYS_clone3, args, 88) == -1 && errno == EINVAL, "clone3 stack");
	args[5] = 0;
	args[0] = thread | 0x4000000000UL; /* an unknown flag */
	CHECK(syscall(SYS_clone3, args, 88) == -1 && errno == EINVAL, "clone3 flags");
	CHECK(syscall(SYS_clone, 0x10000UL, 0, 0, 0, 0) == -1 && errno == EINVAL,
	      "CLONE_THREAD without CLONE_SIGHAND");
	CHECK(syscall(SYS_futex, (void *)1, 0, 0, NULL, NULL, 0) == -1 && errno == EINVAL,
	      "futex unaligned");
	CHECK(syscall(SYS_futex, (void *)0xffffffff80000000UL, 0, 0, NULL, NULL, 0) == -1 &&
		      errno == EFAULT,
	      "futex kernel address");
	unsigned long mask = 0;
	CHECK(syscall(SYS_sched_getaffinity, 0, 4, &mask) == -1 && errno == EINVAL, "short mask");
	long n = syscall(SYS_sched_getaffinity, 0, sizeof(mask), &mask);
	CHECK(n == 8 && mask && !(mask & (mask + 1)), "affinity %ld %#lx", n, mask);
	CHECK(syscall(SYS_madvise, (void *)1, 4096, 4) == -1 && errno == EINVAL, "madvise");
	printf("clone/futex errors: checked\n");
}

/* --- contention ---------------------------------------------------------------------------- */

static long shared_mutex;
static pthread_mutex_t hammer_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t start_line;

struct hammer {
	int index, rounds;
	unsigned long tls_seen;
	int cpu_mask;
};

static void *hammer(void *arg)
{
	struct hammer *h = arg;
	tls_index = h->index;
	tls_counter = 0;
	pthread_barrier_wait(&start_line);
	for (int i = 0; i < h->rounds; i++) {
		raw_lock_acquire();
		long v = shared_raw;
		if ((i & 127) == 0)
			sched_yield(); /* hold the lock across a switch: the others must wait */
		shared_raw = v + 1;
		raw_lock_release();

		pthread_mutex_lock(&hammer_mutex);
		shared_mutex++;
		pthread_mutex_unlock(&hammer_mutex);

		tls_counter++;
		if (tls_index != h->index)
			break;
		if ((i & 63) == 0) { /* a syscall without the vDSO: not every round */
			int cpu = sched_getcpu();
			if (cpu >= 0 && cpu < 31)
				h->cpu_mask |= 1 << cpu;
		}
	}
	h->tls_seen = tls_counter;
	return NULL;
}

static void test_contention(int threads, int rounds)
{
	pthread_t th[MAX_THREADS];
	struct hammer h[MAX_THREADS];
	pthread_barrier_init(&start_line, NULL, threads);
	for (int i = 0; i < threads; i++) {
		h[i] = (struct hammer){ .index = i, .rounds = rounds };
		CHECK(pthread_create(&th[i], NULL, hammer, &h[i]) == 0, "create hammer");
	}
	int cpus = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		CHECK(h[i].tls_seen == (unsigned long)rounds, "thread %d __thread counter %lu", i,
		      h[i].tls_seen);
		cpus |= h[i].cpu_mask;
	}
	long want = (long)threads * rounds;
	CHECK(shared_raw == want, "raw futex lock: %ld of %ld", shared_raw, want);
	CHECK(shared_mutex == want, "pthread mutex: %ld of %ld", shared_mutex, want);
	printf("contention: %d threads x %d rounds: futex lock %ld, mutex %ld, __thread ok\n",
	       threads, rounds, shared_raw, shared_mutex);
	/* not printed by default: it depends on the number of CPUs and on timing */
	if (getenv("PTHREAD_VERBOSE"))
		printf("contention: futex waits %ld, CPUs used mask %#x\n", (long)futex_waits,
		       cpus);
}

static void *spinner(void *arg)
{
	for (volatile unsigned long i = 0;; i++)
		if (arg && i % 100000 == 0)
			sched_yield();
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		sleep(10);
	return NULL;
}

static void *waiter(void *arg)
{
	atomic_int word = 0;
	(void)arg;
	for (;;)
		futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL);
	return NULL;
}

static void *crasher(void *arg)
{
	(void)arg;
	volatile int *null = NULL;
	__asm__("" : "+r"(null)); /* hide the constant from -Warray-bounds */
	usleep(10000);
	*null = 1;
	return NULL;
}

/* The process ends with other threads in every state: running, sleeping, in futex_wait. */
static int other_threads_then(int (*end)(void), void *(*extra)(void *))
{
	pthread_t th;
	pthread_create(&th, NULL, spinner, NULL);
	pthread_create(&th, NULL, spinner, (void *)1);
	pthread_create(&th, NULL, sleeper, NULL);
	pthread_create(&th, NULL, waiter, NULL);
	if (extra)
		pthread_create(&th, NULL, extra, NULL);
	usleep(30000);
	return end();
}

static int exit_five(void)
{
	printf("pthread: exit(5) with 4 threads running\n");
	exit(5);
}

static int wait_forever(void)
{
	for (;;)
		pause();
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "exit_group"))
		return other_threads_then(exit_five, NULL);
	if (argc > 1 && !strcmp(argv[1], "crash"))
		return other_threads_then(wait_forever, crasher);
	if (argc > 1 && !strcmp(argv[1], "forever"))
		return other_threads_then(wait_forever, NULL);
	int threads = argc > 1 ? atoi(argv[1]) : 4;
	int rounds = argc > 2 ? atoi(argv[2]) : 20000;
	int items = argc > 3 ? atoi(argv[3]) : 200;
	if (threads < 1 || threads > MAX_THREADS || rounds < 1 || items < 1) {
		fprintf(stderr, "usage: pthread [THREADS (1..%d) [ROUNDS [ITEMS]]]\n", MAX_THREADS);
		return 2;
	}
	printf("pthread: start\n");
	test_basics();
	test_condvar(items);
	test_clone_errors();
	test_contention(threads, rounds);
	if (failures) {
		printf("pthread: %d FAILED\n", failures);
		return 1;
	}
	printf("pthread: OK\n");
	return 0;
}
