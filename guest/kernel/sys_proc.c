/* Process, identity, signal and thread-area syscalls. */
#include "console.h"
#include "errno.h"
#include "layout.h"
#include "gtlog.h"
#include "msr.h"
#include "random.h"
#include "smp.h"
#include "string.h"
#include "syscalls.h"
#include "task.h"
#include "time.h"
#include "tls.h"
#include "uaccess.h"
#include "uapi.h"

long sys_exit(ulong code)
{
	do_exit(code & 0xff, 0); /* this thread only; the last one's status is the process's */
}

long sys_exit_group(ulong code)
{
	do_group_exit(code & 0xff, 0);
}

long sys_getpid(void)
{
	return current->tgid;
}
long sys_gettid(void)
{
	return current->pid; /* the thread's own id; getpid gives its process's */
}
long sys_getppid(void)
{
	return 0;
}
long sys_getuid(void)
{
	return 0;
} /* also getgid, geteuid, getegid: everyone is root */
long sys_umask(void)
{
	return 022;
}
long sys_wait4(void)
{
	return -ECHILD;
}
long sys_rseq(void)
{
	return -ENOSYS;
} /* glibc then does without restartable sequences */

long sys_sched_yield(void)
{
	current->need_resched = true;
	schedule();
	return 0;
}

long sys_set_tid_address(ulong tidptr)
{
	current->clear_child_tid = tidptr;
	return current->pid;
}

long sys_set_robust_list(ulong head, ulong len)
{
	if (len != 24) /* sizeof(struct robust_list_head) */
		return -EINVAL;
	current->robust_list = head;
	return 0;
}

long sys_prlimit64(ulong pid, ulong resource, ulong new_rlim, ulong old_rlim)
{
	struct rlimit64 nr;
	struct task *t = current;
	if ((int)pid != 0 && (int)pid != t->tgid && (int)pid != t->pid)
		return -ESRCH;
	if ((unsigned)resource >= RLIM_NLIMITS)
		return -EINVAL;
	if (new_rlim) {
		if (copy_from_user(&nr, new_rlim, sizeof(nr)))
			return -EFAULT;
		if (nr.rlim_cur > nr.rlim_max)
			return -EINVAL;
	}
	if (old_rlim && copy_to_user(old_rlim, &group_of(t)->rlim[(unsigned)resource], sizeof(nr)))
		return -EFAULT;
	if (new_rlim)
		group_of(t)->rlim[(unsigned)resource] = nr;
	return 0;
}

long sys_getrlimit(ulong resource, ulong rlim)
{
	if ((unsigned)resource >= RLIM_NLIMITS)
		return -EINVAL;
	return copy_to_user(rlim, &group_of(current)->rlim[(unsigned)resource],
			    sizeof(struct rlimit64))
		       ? -EFAULT
		       : 0;
}

long sys_setrlimit(ulong resource, ulong rlim)
{
	return sys_prlimit64(0, resource, rlim, 0);
}

long sys_arch_prctl(ulong option, ulong addr)
{
	struct task *t = current;
	u64 old;
	switch (option) {
	case ARCH_SET_FS:
		if (addr >= TASK_SIZE_MAX)
			return -EPERM;
		tls_set_user_fs(t, addr); /* per scheme: tls=osv keeps it for the exit switch */
		return 0;
	case ARCH_SET_GS:
		if (addr >= TASK_SIZE_MAX)
			return -EPERM;
		/* In the kernel the user's GS base is parked in KERNEL_GS_BASE (after swapgs). */
		old = rdmsr(MSR_KERNEL_GS_BASE);
		t->thread.gs_base = addr;
		set_segbase_msr(MSR_KERNEL_GS_BASE, addr, TLS_CAUSE_ARCH_PRCTL);
		gtlog_segbase("gs", old, addr, "arch_prctl", t);
		return 0;
	case ARCH_GET_FS:
		return put_user_u64(tls_get_user_fs(t), addr) ? -EFAULT : 0;
	case ARCH_GET_GS:
		return put_user_u64(rdmsr(MSR_KERNEL_GS_BASE), addr) ? -EFAULT : 0;
	default:
		return -EINVAL;
	}
}

long sys_uname(ulong buf)
{
	static const struct new_utsname uts = {
		.sysname = "Linux",
		.nodename = "tracer-guest",
		.release = "6.1.0-tracer",
		.version = "#1 SMP PREEMPT_DYNAMIC tracer guest kernel",
		.machine = "x86_64",
		.domainname = "(none)",
	};
	return copy_to_user(buf, &uts, sizeof(uts)) ? -EFAULT : 0;
}

/* Signals are never delivered to handlers; a fatal one sent to ourselves ends the process. */
static long signal_self(int sig)
{
	struct task *t = current;
	if (sig < 0 || sig > _NSIG)
		return -EINVAL;
	if (sig == 0)
		return 0;
	bool ignored_by_default = sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH ||
				  sig == SIGCONT || (sig >= SIGSTOP && sig <= 22);
	unsigned long handler = group_of(t)->sigaction[sig - 1].handler;
	if (sig != SIGKILL && (handler == SIG_IGN || (handler == SIG_DFL && ignored_by_default)))
		return 0;
	if (sig != SIGKILL && (t->sigmask & (1UL << (sig - 1))))
		return 0; /* stays pending forever: we have no delivery */
	printk("%s: killed by signal %d (pid %d)\n", t->comm, sig, t->tgid);
	do_group_exit(128 + sig, sig);
}

long sys_kill(ulong pid, ulong sig)
{
	int p = (int)pid, tgid = current->tgid;
	/* kill(-1) reaches every process but the caller (and init): there are none */
	if (p != 0 && p != tgid && p != -tgid)
		return (unsigned)sig > _NSIG ? -EINVAL : -ESRCH;
	return signal_self((int)sig);
}

/* A live thread of the caller's process with this tid. */
static bool own_thread(int tid)
{
	struct task *me = current;
	for (struct task *t = task_list; t; t = t->next_task)
		if (t->pid == tid && !is_kthread(t) && t->tgid == me->tgid &&
		    (t->state == TASK_RUNNING || t->state == TASK_SLEEPING))
			return true;
	return false;
}

/* A fatal signal to any thread ends the whole process, as in Linux. */
long sys_tkill(ulong tid, ulong sig)
{
	if ((int)tid <= 0)
		return -EINVAL;
	if (!own_thread((int)tid))
		return -ESRCH;
	return signal_self((int)sig);
}

long sys_tgkill(ulong tgid, ulong tid, ulong sig)
{
	if ((int)tgid <= 0 || (int)tid <= 0)
		return -EINVAL;
	if ((int)tgid != current->tgid || !own_thread((int)tid))
		return -ESRCH;
	return signal_self((int)sig);
}

long sys_rt_sigaction(ulong sig, ulong act, ulong oact, ulong sigsetsize)
{
	struct kernel_sigaction new_sa;
	struct task *t = current;
	if (sigsetsize != 8)
		return -EINVAL;
	if (act && copy_from_user(&new_sa, act, sizeof(new_sa)))
		return -EFAULT;
	if ((int)sig < 1 || (int)sig > _NSIG || (act && (sig == SIGKILL || sig == SIGSTOP)))
		return -EINVAL;
	if (oact && copy_to_user(oact, &group_of(t)->sigaction[sig - 1], sizeof(new_sa)))
		return -EFAULT;
	if (act)
		group_of(t)->sigaction[sig - 1] = new_sa;
	return 0;
}

long sys_rt_sigprocmask(ulong how, ulong set, ulong oset, ulong sigsetsize)
{
	struct task *t = current;
	u64 new_set = 0, old = t->sigmask;
	if (sigsetsize != 8)
		return -EINVAL;
	if (set) {
		if (copy_from_user(&new_set, set, sizeof(new_set)))
			return -EFAULT;
		new_set &= ~((1UL << (SIGKILL - 1)) | (1UL << (SIGSTOP - 1)));
		switch (how) {
		case SIG_BLOCK:
			t->sigmask |= new_set;
			break;
		case SIG_UNBLOCK:
			t->sigmask &= ~new_set;
			break;
		case SIG_SETMASK:
			t->sigmask = new_set;
			break;
		default:
			return -EINVAL;
		}
	}
	if (oset && copy_to_user(oset, &old, sizeof(old))) {
		t->sigmask = old;
		return -EFAULT;
	}
	return 0;
}

long sys_sigaltstack(ulong uss, ulong uoss)
{
	struct user_stack_t ss, old = current->altstack;
	if (uss) {
		if (copy_from_user(&ss, uss, sizeof(ss)))
			return -EFAULT;
		unsigned flags = (unsigned)ss.ss_flags & ~SS_AUTODISARM;
		if (flags != 0 && flags != SS_DISABLE && flags != SS_ONSTACK)
			return -EINVAL;
		if (flags == SS_DISABLE) {
			ss.ss_size = 0;
			ss.ss_sp = 0;
		} else if (ss.ss_size < MINSIGSTKSZ) {
			return -ENOMEM;
		}
	}
	if (uoss && copy_to_user(uoss, &old, sizeof(old)))
		return -EFAULT;
	if (uss)
		current->altstack = ss;
	return 0;
}

/* The CPUs a thread may run on: every online one unless sched_setaffinity narrowed it. */
static struct task *affinity_target(ulong pid)
{
	if ((int)pid == 0)
		return current;
	for (struct task *t = task_list; t; t = t->next_task)
		if (t->pid == (int)pid && t->state != TASK_ZOMBIE && t->state != TASK_DEAD)
			return t;
	return NULL;
}

long sys_sched_getaffinity(ulong pid, ulong len, ulong mask)
{
	struct task *t = affinity_target(pid);
	if (len * 8 < (ulong)nr_cpus_online() || (len & 7))
		return -EINVAL;
	if (!t)
		return -ESRCH;
	u64 m = t->cpus_allowed & cpus_online_mask();
	return copy_to_user(mask, &m, sizeof(m)) ? -EFAULT : (long)sizeof(m);
}

long sys_sched_setaffinity(ulong pid, ulong len, ulong mask)
{
	struct task *t = affinity_target(pid);
	u64 m = 0;
	if (!t)
		return -ESRCH;
	if (copy_from_user(&m, mask, MIN(len, sizeof(m))))
		return -EFAULT;
	if (len < sizeof(m))
		m &= (1UL << (len * 8)) - 1;
	if (!(m & cpus_online_mask()))
		return -EINVAL;
	t->cpus_allowed = m;
	if (t == current && !(m & (1UL << this_cpu_id())))
		current->need_resched = true; /* move off this CPU on the way out */
	return 0;
}

long sys_getcpu(ulong ucpu, ulong unode)
{
	u32 cpu = this_cpu_id(), node = 0;
	if (ucpu && put_user_u32(cpu, ucpu))
		return -EFAULT;
	if (unode && put_user_u32(node, unode))
		return -EFAULT;
	return 0;
}

long sys_getrandom(ulong buf, ulong count, ulong flags)
{
	if (flags & ~(ulong)(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE))
		return -EINVAL;
	if ((flags & GRND_INSECURE) && (flags & GRND_RANDOM))
		return -EINVAL;
	if (!access_ok(buf, count))
		return -EFAULT;
	count = MIN(count, (ulong)MAX_RW_COUNT);
	ulong done = 0;
	while (done < count) {
		size_t c = MIN(count - done, PAGE_SIZE - ((buf + done) & (PAGE_SIZE - 1)));
		void *p = user_page_ptr(current->mm, buf + done, true);
		if (!p)
			return done ? (long)done : -EFAULT;
		get_random_bytes(p, c);
		done += c;
	}
	return done;
}
