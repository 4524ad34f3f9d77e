/*
 * Two worker threads, one pinned to each CPU, each with its own __thread data; the main thread
 * joins them. Few syscalls and few context switches, so a traced run on two CPUs stays short.
 * Output is deterministic: the main thread prints after both joins.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

static __thread long tls_value = 7;

struct worker {
	int cpu;
	long result;
	int on_cpu; /* the CPU it ran on after pinning itself */
};

static void *work(void *arg)
{
	struct worker *w = arg;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	sched_setaffinity(0, sizeof(set), &set); /* fails quietly on one CPU: still correct */
	tls_value += w->cpu + 1;
	for (int i = 0; i < 3; i++)
		getppid(); /* a few syscalls from this CPU */
	w->on_cpu = sched_getcpu();
	w->result = tls_value;
	return NULL;
}

int main(void)
{
	struct worker workers[2] = {{.cpu = 0}, {.cpu = 1}};
	pthread_t threads[2];
	for (int i = 0; i < 2; i++)
		if (pthread_create(&threads[i], NULL, work, &workers[i]) != 0)
			return 2;
	for (int i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	printf("two_threads: %ld %ld, main %ld\n", workers[0].result, workers[1].result, tls_value);
	return workers[0].result == 8 && workers[1].result == 9 && tls_value == 7 ? 0 : 1;
}
