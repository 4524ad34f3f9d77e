/* The syscall table and do_syscall_64, called by entry_SYSCALL_64 with the pt_regs it built. */
#include "arch.h"
#include "errno.h"
#include "gtlog.h"
#include "ptrace.h"
#include "syscalls.h"
#include "task.h"

#define SYS(nr, fn) [__NR_##nr] = (sys_call_ptr_t)sys_##fn

const sys_call_ptr_t sys_call_table[NR_syscalls] = {
	SYS(read, read),
	SYS(write, write),
	SYS(open, open),
	SYS(close, close),
	SYS(stat, stat),
	SYS(fstat, fstat),
	SYS(lstat, stat),
	SYS(lseek, lseek),
	SYS(mmap, mmap),
	SYS(mprotect, mprotect),
	SYS(munmap, munmap),
	SYS(brk, brk),
	SYS(rt_sigaction, rt_sigaction),
	SYS(rt_sigprocmask, rt_sigprocmask),
	SYS(ioctl, ioctl),
	SYS(pread64, pread64),
	SYS(pwrite64, pread64),
	SYS(readv, readv),
	SYS(writev, writev),
	SYS(access, access),
	SYS(sched_yield, sched_yield),
	SYS(nanosleep, nanosleep),
	SYS(getpid, getpid),
	SYS(exit, exit),
	SYS(wait4, wait4),
	SYS(kill, kill),
	SYS(uname, uname),
	SYS(fcntl, fcntl),
	SYS(getcwd, getcwd),
	SYS(readlink, readlink),
	SYS(umask, umask),
	SYS(gettimeofday, gettimeofday),
	SYS(getrlimit, getrlimit),
	SYS(getuid, getuid),
	SYS(getgid, getuid),
	SYS(geteuid, getuid),
	SYS(getegid, getuid),
	SYS(getppid, getppid),
	SYS(sigaltstack, sigaltstack),
	SYS(arch_prctl, arch_prctl),
	SYS(setrlimit, setrlimit),
	SYS(gettid, gettid),
	SYS(tkill, tkill),
	SYS(time, time),
	SYS(futex, futex),
	SYS(set_tid_address, set_tid_address),
	SYS(clock_gettime, clock_gettime),
	SYS(clock_getres, clock_getres),
	SYS(clock_nanosleep, clock_nanosleep),
	SYS(exit_group, exit_group),
	SYS(tgkill, tgkill),
	SYS(openat, openat),
	SYS(newfstatat, newfstatat),
	SYS(readlinkat, readlinkat),
	SYS(faccessat, faccessat),
	SYS(set_robust_list, set_robust_list),
	SYS(preadv, pread64),
	SYS(pwritev, pread64),
	SYS(prlimit64, prlimit64),
	SYS(getrandom, getrandom),
	SYS(rseq, rseq),
	SYS(faccessat2, faccessat2),
};

void do_syscall_64(struct pt_regs *regs, int nr)
{
	int pid = current->pid;
	unsigned int unr = nr; /* like Linux: only the low 32 bits of RAX select the call */
	long ret = -ENOSYS;

	gtlog_syscall_entry(pid, regs, nr);
	if (unr < NR_syscalls && sys_call_table[unr])
		ret = sys_call_table[unr](regs->di, regs->si, regs->dx, regs->r10, regs->r8,
					  regs->r9);
	regs->ax = ret;
	gtlog_syscall_exit(pid, nr, ret);
	exit_to_user_mode(regs);
}

_Static_assert(__builtin_offsetof(struct pt_regs, r15) == PTREGS_R15, "pt_regs layout");
_Static_assert(__builtin_offsetof(struct pt_regs, bp) == PTREGS_BP, "pt_regs layout");
_Static_assert(__builtin_offsetof(struct pt_regs, r11) == PTREGS_R11, "pt_regs layout");
_Static_assert(__builtin_offsetof(struct pt_regs, ax) == PTREGS_AX, "pt_regs layout");
_Static_assert(__builtin_offsetof(struct pt_regs, cx) == PTREGS_CX, "pt_regs layout");
_Static_assert(__builtin_offsetof(struct pt_regs, di) == PTREGS_DI, "pt_regs layout");
_Static_assert(__builtin_offsetof(struct pt_regs, orig_ax) == PTREGS_ORIG_AX, "pt_regs layout");
_Static_assert(__builtin_offsetof(struct pt_regs, ip) == PTREGS_IP, "pt_regs layout");
_Static_assert(__builtin_offsetof(struct pt_regs, cs) == PTREGS_CS, "pt_regs layout");
_Static_assert(__builtin_offsetof(struct pt_regs, flags) == PTREGS_FLAGS, "pt_regs layout");
_Static_assert(__builtin_offsetof(struct pt_regs, sp) == PTREGS_SP, "pt_regs layout");
_Static_assert(__builtin_offsetof(struct pt_regs, ss) == PTREGS_SS, "pt_regs layout");
_Static_assert(sizeof(struct pt_regs) == PTREGS_SIZE, "pt_regs layout");
_Static_assert(__builtin_offsetof(struct task, thread.sp) == 0, "TASK_thread_sp");
