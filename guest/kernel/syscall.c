/* The syscall table and do_syscall_64, called by entry_SYSCALL_64 with the pt_regs it built. */
#include "arch.h"
#include "console.h"
#include "errno.h"
#include "gtlog.h"
#include "ptrace.h"
#include "smp.h"
#include "syscalls.h"
#include "task.h"
#include "tls.h"

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
	SYS(madvise, madvise),
	SYS(getcpu, getcpu),
	SYS(clone, clone),
	SYS(clone3, clone3),
	SYS(sched_setaffinity, sched_setaffinity),
	SYS(sched_getaffinity, sched_getaffinity),
};

/*
 * Per-thread syscall accounting on the kernel's thread-locals, in every scheme. Under
 * tls=broken these accesses go through the app's TCB: the read of tls_current finds the
 * app's data (warned once per thread) and the writes land in the app's own TLS block.
 */
noinline void tls_account_syscall(struct task *t, int nr)
{
	struct task *owner = this_thread_read(tls_current);
	unsigned long count = this_thread_read(tls_syscall_count);
	this_thread_write(tls_syscall_count, count + 1);
	this_thread_write(tls_last_syscall_nr, (unsigned int)nr);
	this_thread_write_idx(tls_syscall_history, count % TLS_SYSCALL_HISTORY, (unsigned int)nr);
	if (owner == t || t->tls_warned)
		return;
	t->tls_warned = true;
	printk("kernel: tls: pid %d: thread-local tls_current is 0x%lx, not this thread's task "
	       "(FS_BASE 0x%lx, kernel TCB 0x%lx)\n",
	       t->pid, (unsigned long)owner, read_fs_base(), t->kernel_tcb);
	gtlog_tls_mismatch(t->tgid, read_fs_base(), (u64)owner, (u64)t);
}

void do_syscall_64(struct pt_regs *regs, int nr)
{
	kernel_lock();
	struct task *t = current;
	int pid = t->tgid;
	unsigned int unr = nr; /* like Linux: only the low 32 bits of RAX select the call */
	long ret = -ENOSYS;

	gtlog_syscall_entry(pid, regs, nr);
	tls_account_syscall(t, nr);
	if (unr < NR_syscalls && sys_call_table[unr])
		ret = sys_call_table[unr](regs->di, regs->si, regs->dx, regs->r10, regs->r8,
					  regs->r9);
	regs->ax = ret;
	gtlog_syscall_exit(pid, nr, ret);
	exit_to_user_mode(regs);
	kernel_unlock();
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
_Static_assert(sizeof(struct pt_regs) == PTREGS_SIZE_C, "task_pt_regs");
_Static_assert(__builtin_offsetof(struct task, thread.sp) == 0, "TASK_thread_sp");
