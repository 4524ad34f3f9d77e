/*
 * Faults on purpose, so tests can check that the kernel ends only this process.
 *   crash null|ud2|div0|gp|kernel|noncanonical|int80|abort|stack|oom|badrsp|badfs|ok
 * "oom", "badrsp" and "badfs" are expected to survive and exit 0: oom maps memory until the
 * kernel says ENOMEM; badrsp makes syscalls and takes timer interrupts with a non-canonical
 * RSP; badfs does the same with FS on an unmapped page (tls=osv reads fs:0 at every entry).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Winfinite-recursion"
static int recurse(volatile char *prev)
{
	volatile char frame[4096];
	frame[0] = prev ? prev[0] + 1 : 0;
	return recurse(frame) + frame[1];
}

/* RSP = a non-canonical value across syscalls (SYSRET) and timer interrupts (IRET). */
static int bad_rsp(void)
{
	long pid;
	__asm__ volatile("movq %%rsp, %%r12\n\t"
			 "movabsq $0x8000000000000000, %%rsp\n\t"
			 "movl $39, %%eax\n\t"
			 "syscall\n\t"
			 "movq %%rax, %%r13\n\t"
			 "movl $100000000, %%ecx\n"
			 "1:\tdecl %%ecx\n\t"
			 "jnz 1b\n\t"
			 "movq %%r12, %%rsp\n\t"
			 "movq %%r13, %0"
			 : "=r"(pid)
			 :
			 : "rax", "rcx", "r11", "r12", "r13", "memory");
	printf("crash: badrsp: survived, getpid() = %ld\n", pid);
	return pid == getpid() ? 0 : 1;
}

/* FS on an unmapped page across syscalls and timer interrupts; no libc call in between. */
static int bad_fs(void)
{
	unsigned long saved, pid;
	__asm__ volatile("movl $158, %%eax\n\t" /* arch_prctl(ARCH_GET_FS, &saved) */
			 "movl $0x1003, %%edi\n\t"
			 "movq %1, %%rsi\n\t"
			 "syscall\n\t"
			 "movl $158, %%eax\n\t" /* arch_prctl(ARCH_SET_FS, 0x1000) */
			 "movl $0x1002, %%edi\n\t"
			 "movl $0x1000, %%esi\n\t"
			 "syscall\n\t"
			 "movl $39, %%eax\n\t" /* getpid() */
			 "syscall\n\t"
			 "movq %%rax, %0\n\t"
			 "movl $100000000, %%ecx\n"
			 "1:\tdecl %%ecx\n\t"
			 "jnz 1b\n\t"
			 "movl $158, %%eax\n\t" /* arch_prctl(ARCH_SET_FS, saved) */
			 "movl $0x1002, %%edi\n\t"
			 "movq (%1), %%rsi\n\t"
			 "syscall"
			 : "=&r"(pid)
			 : "r"(&saved)
			 : "rax", "rcx", "rdx", "rsi", "rdi", "r11", "memory");
	printf("crash: badfs: survived, getpid() = %ld\n", (long)pid);
	return (long)pid == getpid() ? 0 : 1;
}

static int exhaust_memory(void)
{
	long mib = 0;
	for (;;) {
		char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);
		if (p == MAP_FAILED)
			break;
		p[0] = p[(1 << 20) - 1] = 1;
		mib++;
	}
	printf("crash: oom: mapped %ld MiB before ENOMEM\n", mib);
	return mib > 16 ? 0 : 1;
}

static void say(const char *mode)
{
	write(1, "crash: ", 7);
	write(1, mode, strlen(mode));
	write(1, "\n", 1);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "null";
	say(mode);
	if (!strcmp(mode, "null"))
		*(volatile int *)0 = 1;
	else if (!strcmp(mode, "ud2"))
		__asm__ volatile("ud2");
	else if (!strcmp(mode, "div0")) /* in asm: gcc rewrites 1/x without a divide */
		__asm__ volatile(
			"xorl %%edx, %%edx; xorl %%ecx, %%ecx; movl $1, %%eax; divl %%ecx" ::
				: "eax", "ecx", "edx");
	else if (!strcmp(mode, "gp"))
		__asm__ volatile("hlt"); /* privileged: #GP in ring 3 */
	else if (!strcmp(mode, "kernel"))
		(void)*(volatile long *)0xffffffff80100000UL;
	else if (!strcmp(mode, "noncanonical"))
		(void)*(volatile long *)0x8000000000000000UL;
	else if (!strcmp(mode, "int80"))
		__asm__ volatile("int $0x80");
	else if (!strcmp(mode, "abort"))
		abort();
	else if (!strcmp(mode, "stack"))
		recurse(NULL); /* past the 8 MiB stack limit */
	else if (!strcmp(mode, "oom"))
		return exhaust_memory();
	else if (!strcmp(mode, "badrsp"))
		return bad_rsp();
	else if (!strcmp(mode, "badfs"))
		return bad_fs();
	else if (!strcmp(mode, "ok"))
		return 0;
	say("still alive?!");
	return 2;
}
