/*
 * Makes every syscall the guest supports, the failing ways included, through the raw
 * `syscall` instruction, and checks each result against Linux's. One line per check;
 * exit status 0 only when all held.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

#define KERNEL_ADDR 0xffffffff80100000UL
#define DIRECT_MAP_ADDR 0xffff888000100000UL
#define NONCANONICAL 0x0000800000000000UL

#define EPERM 1
#define ENOENT 2
#define ESRCH 3
#define EAGAIN 11
#define EBADF 9
#define ECHILD 10
#define ENOMEM 12
#define EFAULT 14
#define EEXIST 17
#define ENODEV 19
#define EINVAL 22
#define ENOTTY 25
#define ESPIPE 29
#define ERANGE 34
#define ENOSYS 38

#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_PRIVATE 2
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_FIXED_NOREPLACE 0x100000

static int failures, checks;

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
#define S0(n) raw(n, 0, 0, 0, 0, 0, 0)
#define S1(n, a) raw(n, (long)(a), 0, 0, 0, 0, 0)
#define S2(n, a, b) raw(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define S3(n, a, b, c) raw(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define S4(n, a, b, c, d) raw(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define S6(n, a, b, c, d, e, f)                                                                    \
	raw(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static void expect(const char *what, long got, long want)
{
	checks++;
	if (got == want) {
		printf("ok   %s = %ld\n", what, got);
	} else {
		failures++;
		printf("FAIL %s = %ld, expected %ld\n", what, got, want);
	}
}

static void expect_true(const char *what, int cond)
{
	checks++;
	if (cond) {
		printf("ok   %s\n", what);
	} else {
		failures++;
		printf("FAIL %s\n", what);
	}
}

struct kstat {
	unsigned long dev, ino, nlink;
	unsigned mode, uid, gid, pad;
	unsigned long rdev;
	long size, blksize, blocks;
	unsigned long times[6];
	long unused[3];
};

static void io_checks(void)
{
	static const char msg[] = "allsyscalls: write works\n";
	struct {
		const void *base;
		unsigned long len;
	} iov[2] = { { "allsyscalls: ", 13 }, { "writev works\n", 13 } };
	char buf[64];

	expect("write(1, msg)", S3(SYS_write, 1, msg, sizeof(msg) - 1), sizeof(msg) - 1);
	expect("write(1, NULL, 5)", S3(SYS_write, 1, 0, 5), -EFAULT);
	expect("write(1, kernel text, 5)", S3(SYS_write, 1, KERNEL_ADDR, 5), -EFAULT);
	expect("write(1, direct map, 8)", S3(SYS_write, 1, DIRECT_MAP_ADDR, 8), -EFAULT);
	expect("write(1, non-canonical, 5)", S3(SYS_write, 1, NONCANONICAL, 5), -EFAULT);
	expect("write(1, msg, huge)", S3(SYS_write, 1, msg, -1L), -EFAULT);
	expect("write(1, msg, 0)", S3(SYS_write, 1, msg, 0), 0);
	expect("write(0, msg)", S3(SYS_write, 0, msg, 1), -EBADF);
	expect("write(99, msg)", S3(SYS_write, 99, msg, 1), -EBADF);
	expect("writev(1, iov, 2)", S3(SYS_writev, 1, iov, 2), 26);
	expect("writev(1, NULL, 1)", S3(SYS_writev, 1, 0, 1), -EFAULT);
	expect("writev(1, iov, -1)", S3(SYS_writev, 1, iov, -1), -EINVAL);
	expect("writev(1, iov, 1025)", S3(SYS_writev, 1, iov, 1025), -EINVAL);
	expect("read(0, buf)", S3(SYS_read, 0, buf, sizeof(buf)), 0);
	expect("read(0, non-canonical)", S3(SYS_read, 0, NONCANONICAL, 8), -EFAULT);
	expect("read(7, buf)", S3(SYS_read, 7, buf, 8), -EBADF);
	expect("lseek(1)", S3(SYS_lseek, 1, 0, 0), -ESPIPE);
	expect("ioctl(1, TCGETS)", S3(SYS_ioctl, 1, 0x5401, buf), -ENOTTY);
	expect("ioctl(42, TCGETS)", S3(SYS_ioctl, 42, 0x5401, buf), -EBADF);
	expect("close(99)", S1(SYS_close, 99), -EBADF);
	expect("open(/etc/passwd)", S3(SYS_open, "/etc/passwd", 0, 0), -ENOENT);
	expect("open(NULL)", S3(SYS_open, 0, 0, 0), -EFAULT);
	expect("openat(AT_FDCWD, x)", S4(SYS_openat, -100, "x", 0, 0), -ENOENT);
	expect("access(/nonexistent)", S2(SYS_access, "/nonexistent", 0), -ENOENT);
	expect("access(/, F_OK)", S2(SYS_access, "/", 0), 0);
	expect("access(/, 8)", S2(SYS_access, "/", 8), -EINVAL);
	expect("faccessat(kernel path)", S3(SYS_faccessat, -100, KERNEL_ADDR, 0), -EFAULT);

	struct kstat st;
	memset(&st, 0, sizeof(st));
	expect("fstat(1)", S2(SYS_fstat, 1, &st), 0);
	expect_true("fstat(1) is a character device", (st.mode & 0170000) == 0020000);
	expect("fstat(99)", S2(SYS_fstat, 99, &st), -EBADF);
	expect("fstat(1, NULL)", S2(SYS_fstat, 1, 0), -EFAULT);
	expect("newfstatat(1, \"\", AT_EMPTY_PATH)", S4(SYS_newfstatat, 1, "", &st, 0x1000), 0);
	expect("newfstatat(1, \"\", 0)", S4(SYS_newfstatat, 1, "", &st, 0), -ENOENT);
	expect("newfstatat(AT_FDCWD, /nonexistent)",
	       S4(SYS_newfstatat, -100, "/nonexistent", &st, 0), -ENOENT);
	expect("newfstatat(bad flags)", S4(SYS_newfstatat, 1, "", &st, 0x1), -EINVAL);
	expect("newfstatat(1, \"\", kernel buf)", S4(SYS_newfstatat, 1, "", KERNEL_ADDR, 0x1000),
	       -EFAULT);

	expect("getcwd(buf, 64)", S2(SYS_getcwd, buf, 64), 2);
	expect_true("getcwd is /", !strcmp(buf, "/"));
	expect("getcwd(buf, 1)", S2(SYS_getcwd, buf, 1), -ERANGE);
}

/* The kernel reports the program path made absolute against "/", the guest's cwd. */
static void readlink_checks(const char *path)
{
	char buf[256], argv0[256];
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	snprintf(argv0, sizeof(argv0), "%s%s", path[0] == '/' ? "" : "/", path);
	memset(buf, 0, sizeof(buf));
	long n = S3(SYS_readlink, "/proc/self/exe", buf, sizeof(buf) - 1);
	expect("readlink(/proc/self/exe) length", n, (long)strlen(argv0));
	expect_true("readlink(/proc/self/exe) is the absolute argv[0]", !strcmp(buf, argv0));
	expect("readlink(/proc/self/exe, buf, 3)", S3(SYS_readlink, "/proc/self/exe", buf, 3), 3);
	expect("readlinkat(AT_FDCWD, /proc/self/exe)",
	       S4(SYS_readlinkat, -100, "/proc/self/exe", buf, sizeof(buf)), (long)strlen(argv0));
	expect("readlink(/nonexistent)", S3(SYS_readlink, "/nonexistent", buf, sizeof(buf)),
	       -ENOENT);
	expect("readlink(bufsiz 0)", S3(SYS_readlink, "/proc/self/exe", buf, 0), -EINVAL);
	expect("readlink(NULL path)", S3(SYS_readlink, 0, buf, sizeof(buf)), -EFAULT);
	expect("readlink(kernel buf)", S3(SYS_readlink, "/proc/self/exe", KERNEL_ADDR, 16),
	       -EFAULT);
}

static void memory_checks(void)
{
	long cur = S1(SYS_brk, 0);
	expect_true("brk(0) > 0", cur > 0);
	expect("brk(cur + 8192)", S1(SYS_brk, cur + 8192), cur + 8192);
	memset((void *)cur, 0x5a, 8192);
	expect("brk(cur)", S1(SYS_brk, cur), cur);
	expect("brk(1) leaves brk alone", S1(SYS_brk, 1), cur);
	expect("brk(kernel) leaves brk alone", S1(SYS_brk, KERNEL_ADDR), cur);

	long p = S6(SYS_mmap, 0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	expect_true("mmap(anon 8192) page-aligned", p > 0 && (p & 4095) == 0);
	memset((void *)p, 1, 8192);
	expect("mprotect(p, 4096, PROT_READ)", S3(SYS_mprotect, p, 4096, PROT_READ), 0);
	expect("write(1, PROT_READ page, 0)", S3(SYS_write, 1, p, 0), 0);
	expect("getrandom into read-only page", S3(SYS_getrandom, p, 8, 0), -EFAULT);
	expect("mprotect(p, 4096, PROT_NONE)", S3(SYS_mprotect, p, 4096, 0), 0);
	expect("write(1, PROT_NONE page, 1)", S3(SYS_write, 1, p, 1), -EFAULT);
	expect("mprotect(p, 4096, RW)", S3(SYS_mprotect, p, 4096, PROT_READ | PROT_WRITE), 0);
	expect_true("contents survive PROT_NONE", ((unsigned char *)p)[100] == 1);
	expect("MAP_FIXED_NOREPLACE over p",
	       S6(SYS_mmap, p, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		  -1, 0),
	       -EEXIST);
	expect("MAP_FIXED over p",
	       S6(SYS_mmap, p, 4096, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
	       p);
	expect_true("MAP_FIXED gives a fresh zero page", ((unsigned char *)p)[100] == 0);
	expect("munmap(p, 8192)", S2(SYS_munmap, p, 8192), 0);
	expect("mprotect(unmapped)", S3(SYS_mprotect, p, 4096, PROT_READ), -ENOMEM);

	expect("mmap(len 0)", S6(SYS_mmap, 0, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
	       -EINVAL);
	expect("mmap(no MAP_PRIVATE/SHARED)",
	       S6(SYS_mmap, 0, 4096, PROT_READ, MAP_ANONYMOUS, -1, 0), -EINVAL);
	expect("mmap(fd 1, file mapping)", S6(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, 1, 0),
	       -ENODEV);
	expect("mmap(fd 99, file mapping)", S6(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, 99, 0),
	       -EBADF);
	expect("mmap(offset 1)",
	       S6(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 1), -EINVAL);
	expect("mmap(bad prot)", S6(SYS_mmap, 0, 4096, 0x100, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
	       -EINVAL);
	expect("mmap(MAP_FIXED 0x1000)",
	       S6(SYS_mmap, 0x1000, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		  0),
	       -EPERM);
	expect("mmap(MAP_FIXED unaligned)",
	       S6(SYS_mmap, 0x10000001, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		  -1, 0),
	       -EINVAL);
	expect("mmap(MAP_FIXED kernel)",
	       S6(SYS_mmap, KERNEL_ADDR, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		  -1, 0),
	       -ENOMEM);
	expect("mmap(64 TiB)",
	       S6(SYS_mmap, 0, 1UL << 46, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), -ENOMEM);
	expect("munmap(unaligned)", S2(SYS_munmap, 0x10000001, 4096), -EINVAL);
	expect("munmap(len 0)", S2(SYS_munmap, 0x10000000, 0), -EINVAL);
	expect("munmap(kernel)", S2(SYS_munmap, KERNEL_ADDR, 4096), -EINVAL);
	expect("munmap(nothing mapped)", S2(SYS_munmap, 0x100000000000, 1UL << 40), 0);
	expect("mprotect(unaligned)", S3(SYS_mprotect, 0x10000001, 4096, PROT_READ), -EINVAL);
	expect("mprotect(bad prot)", S3(SYS_mprotect, 0x10000000, 4096, 0x10), -EINVAL);
	expect("mprotect(kernel)", S3(SYS_mprotect, KERNEL_ADDR, 4096, PROT_READ), -ENOMEM);
}

static void arch_prctl_checks(void)
{
	unsigned long fs = 0, gs = 0, self, probe = 0x1122334455667788UL;
	__asm__ volatile("movq %%fs:0, %0" : "=r"(self));
	expect("arch_prctl(ARCH_GET_FS)", S2(SYS_arch_prctl, 0x1003, &fs), 0);
	expect_true("ARCH_GET_FS == fs:0 (TCB self pointer)", fs == self && fs != 0);
	expect("arch_prctl(ARCH_SET_FS, same)", S2(SYS_arch_prctl, 0x1002, fs), 0);
	expect("arch_prctl(ARCH_GET_FS, NULL)", S2(SYS_arch_prctl, 0x1003, 0), -EFAULT);
	expect("arch_prctl(ARCH_GET_FS, kernel)", S2(SYS_arch_prctl, 0x1003, KERNEL_ADDR), -EFAULT);
	expect("arch_prctl(ARCH_SET_FS, non-canonical)", S2(SYS_arch_prctl, 0x1002, NONCANONICAL),
	       -EPERM);
	expect("arch_prctl(ARCH_SET_FS, kernel)", S2(SYS_arch_prctl, 0x1002, KERNEL_ADDR), -EPERM);
	expect("arch_prctl(0x3001 ARCH_CET_STATUS)", S2(SYS_arch_prctl, 0x3001, &fs), -EINVAL);
	expect("arch_prctl(0)", S2(SYS_arch_prctl, 0, 0), -EINVAL);
	expect("arch_prctl(ARCH_SET_GS, &probe)", S2(SYS_arch_prctl, 0x1001, &probe), 0);
	expect("arch_prctl(ARCH_GET_GS)", S2(SYS_arch_prctl, 0x1004, &gs), 0);
	expect_true("ARCH_GET_GS round trip", gs == (unsigned long)&probe);
	unsigned long via_gs;
	__asm__ volatile("movq %%gs:0, %0" : "=r"(via_gs));
	expect_true("%gs:0 reads through the new GS base", via_gs == probe);
	S2(SYS_getpid, 0, 0);
	__asm__ volatile("movq %%gs:0, %0" : "=r"(via_gs));
	expect_true("GS base survives a syscall", via_gs == probe);
	expect("arch_prctl(ARCH_SET_GS, 0)", S2(SYS_arch_prctl, 0x1001, 0), 0);
	expect("arch_prctl(ARCH_GET_FS) again", S2(SYS_arch_prctl, 0x1003, &fs), 0);
	expect_true("FS base unchanged", fs == self);
}

static void process_checks(void)
{
	long pid = S0(SYS_getpid);
	int tid_slot = 0;
	long long rl[2];
	expect_true("getpid() > 0", pid > 0);
	expect("gettid() == getpid()", S0(SYS_gettid), pid);
	expect("getppid()", S0(SYS_getppid), 0);
	expect("getuid()", S0(SYS_getuid), 0);
	expect("geteuid()", S0(SYS_geteuid), 0);
	expect("getgid()", S0(SYS_getgid), 0);
	expect("getegid()", S0(SYS_getegid), 0);
	expect("set_tid_address()", S1(SYS_set_tid_address, &tid_slot), pid);
	expect("set_robust_list(len 24)", S2(SYS_set_robust_list, &rl, 24), 0);
	expect("set_robust_list(len 23)", S2(SYS_set_robust_list, &rl, 23), -EINVAL);
	expect("rseq()", S4(SYS_rseq, &rl, 32, 0, 0x53053053), -ENOSYS);
	expect("prlimit64(0, RLIMIT_STACK, NULL, &old)", S4(SYS_prlimit64, 0, 3, 0, rl), 0);
	expect("RLIMIT_STACK soft limit", rl[0], 8L << 20);
	expect("prlimit64(resource 99)", S4(SYS_prlimit64, 0, 99, 0, rl), -EINVAL);
	expect("prlimit64(pid 12345)", S4(SYS_prlimit64, 12345, 3, 0, rl), -ESRCH);
	expect("prlimit64(old = kernel)", S4(SYS_prlimit64, 0, 3, 0, KERNEL_ADDR), -EFAULT);
	expect("sched_yield()", S0(SYS_sched_yield), 0);
	expect("wait4()", S4(SYS_wait4, -1, 0, 0, 0), -ECHILD);
	expect("kill(self, 0)", S2(SYS_kill, pid, 0), 0);
	expect("kill(self, SIGCHLD) is ignored", S2(SYS_kill, pid, 17), 0);
	expect("kill(4242, SIGTERM)", S2(SYS_kill, 4242, 15), -ESRCH);
	expect("tgkill(self, self, 0)", S3(SYS_tgkill, pid, pid, 0), 0);
	expect("tgkill(self, 4242, SIGTERM)", S3(SYS_tgkill, pid, 4242, 15), -ESRCH);
	expect("tgkill(self, self, 65)", S3(SYS_tgkill, pid, pid, 65), -EINVAL);

	struct {
		unsigned long handler, flags, restorer, mask;
	} sa = { 1, 0, 0, 0 }, old;
	unsigned long set = 1UL << 9, oldset;
	expect("rt_sigaction(SIGUSR1, SIG_IGN)", S4(SYS_rt_sigaction, 10, &sa, &old, 8), 0);
	expect("rt_sigaction(SIGUSR1) reads back", S4(SYS_rt_sigaction, 10, 0, &old, 8), 0);
	expect("rt_sigaction old handler", old.handler, 1);
	expect("rt_sigaction(sigsetsize 7)", S4(SYS_rt_sigaction, 10, &sa, 0, 7), -EINVAL);
	expect("rt_sigaction(SIGKILL)", S4(SYS_rt_sigaction, 9, &sa, 0, 8), -EINVAL);
	expect("rt_sigaction(0)", S4(SYS_rt_sigaction, 0, &sa, 0, 8), -EINVAL);
	expect("rt_sigaction(act = kernel)", S4(SYS_rt_sigaction, 10, KERNEL_ADDR, 0, 8), -EFAULT);
	expect("rt_sigprocmask(SIG_BLOCK)", S4(SYS_rt_sigprocmask, 0, &set, &oldset, 8), 0);
	expect("rt_sigprocmask(how 5)", S4(SYS_rt_sigprocmask, 5, &set, 0, 8), -EINVAL);
	expect("rt_sigprocmask(sigsetsize 4)", S4(SYS_rt_sigprocmask, 0, &set, 0, 4), -EINVAL);
	expect("rt_sigprocmask(SIG_SETMASK, old)", S4(SYS_rt_sigprocmask, 2, &oldset, 0, 8), 0);
	struct {
		unsigned long sp;
		int flags;
		unsigned long size;
	} ss;
	expect("sigaltstack(NULL, &old)", S2(SYS_sigaltstack, 0, &ss), 0);
	expect("sigaltstack disabled", ss.flags, 2);

	int futex_word = 5;
	expect("futex(FUTEX_WAKE)", S6(SYS_futex, &futex_word, 1, 1, 0, 0, 0), 0);
	expect("futex(FUTEX_WAIT, wrong value)", S6(SYS_futex, &futex_word, 0, 4, 0, 0, 0),
	       -EAGAIN);
	expect("futex(misaligned)", S6(SYS_futex, (char *)&futex_word + 1, 0, 5, 0, 0, 0), -EINVAL);
	expect("futex(FUTEX_WAIT, kernel addr)", S6(SYS_futex, KERNEL_ADDR, 0, 0, 0, 0, 0),
	       -EFAULT);

	struct {
		char f[6][65];
	} uts;
	expect("uname()", S1(SYS_uname, &uts), 0);
	expect_true("uname sysname Linux", !strcmp(uts.f[0], "Linux"));
	expect_true("uname machine x86_64", !strcmp(uts.f[4], "x86_64"));
	expect("uname(NULL)", S1(SYS_uname, 0), -EFAULT);

	unsigned char rnd[16];
	expect("getrandom(16)", S3(SYS_getrandom, rnd, 16, 0), 16);
	expect("getrandom(GRND_NONBLOCK)", S3(SYS_getrandom, rnd, 16, 1), 16);
	expect("getrandom(bad flags)", S3(SYS_getrandom, rnd, 16, 0x100), -EINVAL);
	expect("getrandom(RANDOM|INSECURE)", S3(SYS_getrandom, rnd, 16, 6), -EINVAL);
	expect("getrandom(kernel)", S3(SYS_getrandom, KERNEL_ADDR, 16, 0), -EFAULT);
}

static void time_checks(void)
{
	struct {
		long sec, nsec;
	} a, b, req = { 0, 2000000 }, bad = { 0, 2000000000L };
	expect("clock_gettime(MONOTONIC)", S2(SYS_clock_gettime, 1, &a), 0);
	expect("nanosleep(2 ms)", S2(SYS_nanosleep, &req, 0), 0);
	expect("clock_gettime(MONOTONIC) again", S2(SYS_clock_gettime, 1, &b), 0);
	long slept = (b.sec - a.sec) * 1000000000L + (b.nsec - a.nsec);
	expect_true("nanosleep slept at least 2 ms", slept >= 2000000);
	expect("clock_gettime(REALTIME)", S2(SYS_clock_gettime, 0, &a), 0);
	expect_true("CLOCK_REALTIME after 2020", a.sec > 1577836800L);
	expect("clock_gettime(999)", S2(SYS_clock_gettime, 999, &a), -EINVAL);
	expect("clock_gettime(MONOTONIC, NULL)", S2(SYS_clock_gettime, 1, 0), -EFAULT);
	expect("clock_getres(MONOTONIC)", S2(SYS_clock_getres, 1, &a), 0);
	expect("nanosleep(tv_nsec 2e9)", S2(SYS_nanosleep, &bad, 0), -EINVAL);
	expect("nanosleep(NULL)", S2(SYS_nanosleep, 0, 0), -EFAULT);
	req.nsec = 1000;
	expect("clock_nanosleep(MONOTONIC, 1 us)", S4(SYS_clock_nanosleep, 1, 0, &req, 0), 0);
	expect("clock_nanosleep(THREAD_CPUTIME)", S4(SYS_clock_nanosleep, 3, 0, &req, 0), -EINVAL);
	expect("gettimeofday()", S2(SYS_gettimeofday, &a, 0), 0);
	expect_true("time() > 2020", S1(SYS_time, 0) > 1577836800L);
	expect("time(kernel)", S1(SYS_time, KERNEL_ADDR), -EFAULT);
}

static void unknown_checks(void)
{
	expect("syscall 500", S0(500), -ENOSYS);
	expect("syscall 335", S0(335), -ENOSYS);
	expect("syscall -1", S0(-1), -ENOSYS);
	expect("syscall 0x40000027 (x32 getpid)", S0(0x40000027), -ENOSYS);
	expect("syscall 0x100000027 (upper bits ignored: getpid)", S0(0x100000027L),
	       S0(SYS_getpid));
	expect("rt_sigreturn without a signal", S0(SYS_rt_sigreturn), -ENOSYS);
}

int main(int argc, char **argv)
{
	(void)argc;
	io_checks();
	readlink_checks(argv[0]);
	memory_checks();
	arch_prctl_checks();
	process_checks();
	time_checks();
	unknown_checks();
	printf("allsyscalls: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
