/*
 * The vDSO as static glibc and musl programs use it: AT_SYSINFO_EHDR points at an ELF with
 * LINUX_2.6 symbols, and clock_gettime, gettimeofday, time and sched_getcpu answer without
 * a syscall (a test counts them in the ground-truth log). Prints deterministic lines.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/time.h>
#include <time.h>

#define ROUNDS 1000

int main(void)
{
	int failures = 0;
	const unsigned char *ehdr = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
	if (!ehdr || memcmp(ehdr, ELFMAG, SELFMAG) != 0 || ehdr[EI_CLASS] != ELFCLASS64) {
		printf("vdso: no vDSO ELF at AT_SYSINFO_EHDR\n");
		return 1;
	}
	printf("vdso: ELF at AT_SYSINFO_EHDR\n");
	struct timespec last = { 0, 0 }, now, real;
	for (int i = 0; i < ROUNDS; i++) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec < last.tv_sec ||
		    (now.tv_sec == last.tv_sec && now.tv_nsec < last.tv_nsec))
			failures++;
		last = now;
	}
	printf("clock_gettime(CLOCK_MONOTONIC): %d calls, %s\n", ROUNDS,
	       failures ? "went backwards" : "never backwards");
	clock_gettime(CLOCK_REALTIME, &real);
	struct timeval tv;
	gettimeofday(&tv, NULL);
	time_t t = time(NULL);
	long d1 = tv.tv_sec - real.tv_sec, d2 = t - real.tv_sec;
	int close_enough = d1 >= 0 && d1 <= 1 && d2 >= 0 && d2 <= 1 && real.tv_sec > 1577836800L;
	printf("gettimeofday and time agree with CLOCK_REALTIME: %s\n",
	       close_enough ? "yes" : "no");
	int cpu = sched_getcpu();
	printf("sched_getcpu: %s\n", cpu >= 0 ? "a CPU number" : "failed");
	struct timespec cpu_time;
	int rc = clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_time); /* falls back to the syscall */
	printf("clock_gettime(CLOCK_PROCESS_CPUTIME_ID): %d\n", rc);
	return failures || !close_enough || cpu < 0 || rc;
}
