/*
 * Threads: clone and clone3 for what pthread_create asks (glibc: clone3, musl: clone). A new
 * thread shares the caller's address space, signal handlers, limits and files; it starts in
 * ring 3 right after the syscall with RAX = 0 on its own stack and, with CLONE_SETTLS, its
 * own FS base (its TCB). Anything else (fork, vfork, namespaces) is refused.
 */
#include "console.h"
#include "errno.h"
#include "gtlog.h"
#include "layout.h"
#include "mm.h"
#include "msr.h"
#include "ptrace.h"
#include "string.h"
#include "syscalls.h"
#include "task.h"
#include "tls.h"
#include "uaccess.h"
#include "uapi.h"

#define CLONE_THREAD_FLAGS (CLONE_VM | CLONE_SIGHAND | CLONE_THREAD)
#define CLONE_SUPPORTED                                                                            \
	(CLONE_THREAD_FLAGS | CLONE_FS | CLONE_FILES | CLONE_SYSVSEM | CLONE_SETTLS |              \
	 CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID | CLONE_DETACHED)

struct clone_args {
	u64 flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
		set_tid_size, cgroup;
};
#define CLONE_ARGS_SIZE_VER0 64

static void fxsave_to(struct fxregs_state *s)
{
	__asm__ volatile("fxsave64 %0" : "=m"(*s));
}

/* The child: the caller's user registers with RAX = 0 and its own stack and TLS. */
static void setup_thread(struct task *t, struct task *parent, unsigned long sp, unsigned long flags,
			 unsigned long tls)
{
	struct task *leader = group_of(parent);
	t->state = TASK_RUNNING;
	t->tgid = parent->tgid;
	t->group_leader = leader;
	t->mm = parent->mm;
	t->sigmask = parent->sigmask;
	t->altstack.ss_flags = SS_DISABLE;
	t->cpus_allowed = parent->cpus_allowed;
	strlcpy(t->comm, parent->comm, sizeof(t->comm));
	strlcpy(t->exe, parent->exe, sizeof(t->exe));
	fxsave_to(&t->fpu); /* the caller's live user FPU/SSE state (the kernel uses none) */
	t->thread.fs_base = (flags & CLONE_SETTLS) ? tls : tls_get_user_fs(parent);
	t->thread.gs_base = rdmsr(MSR_KERNEL_GS_BASE); /* the caller's user GS, parked */

	struct pt_regs *regs = task_pt_regs(t);
	*regs = *task_pt_regs(parent);
	regs->ax = 0;
	if (sp)
		regs->sp = sp;
	init_switch_frame(t, regs, NULL, NULL);
}

/* Kernel stacks are never given back to the page allocator: bound how many can exist. */
#define MAX_TASKS 256

static int nr_tasks(void)
{
	int n = 0;
	for (struct task *t = task_list; t; t = t->next_task)
		n++;
	return n;
}

struct task *task_create_thread(unsigned long flags, unsigned long sp, unsigned long tls, int *err)
{
	struct task *parent = current;
	*err = -EAGAIN; /* what Linux says at RLIMIT_NPROC / threads-max */
	if (nr_tasks() >= MAX_TASKS)
		return NULL;
	u64 page = alloc_page();
	*err = -ENOMEM;
	if (!page)
		return NULL;
	struct task *t = phys_to_virt(page);
	t->kstack = kstack_alloc();
	if (!t->kstack || task_alloc_thread_state(t)) {
		task_release(t);
		return NULL;
	}
	t->kstack_top = t->kstack + KSTACK_SIZE;
	setup_thread(t, parent, sp, flags, tls);
	t->pid = alloc_pid();
	group_of(parent)->nr_threads++;
	task_list_add(t);
	*err = 0;
	return t;
}

static long do_clone(unsigned long flags, unsigned long sp, unsigned long parent_tid,
		     unsigned long child_tid, unsigned long tls)
{
	if (flags & ~(CLONE_SUPPORTED | CSIGNAL))
		return -EINVAL;
	/* Linux's rules: a thread shares handlers, handlers need a shared address space */
	if ((flags & CLONE_THREAD) && !(flags & CLONE_SIGHAND))
		return -EINVAL;
	if ((flags & CLONE_SIGHAND) && !(flags & CLONE_VM))
		return -EINVAL;
	if ((flags & CLONE_THREAD_FLAGS) != CLONE_THREAD_FLAGS)
		return -ENOSYS; /* no fork: only threads of the caller's process */
	if ((flags & CLONE_SETTLS) && tls >= TASK_SIZE_MAX)
		return -EPERM;
	if (sp >= TASK_SIZE_MAX)
		return -EINVAL;
	if ((flags & CLONE_PARENT_SETTID) && user_range_ok(parent_tid, 4, true))
		return -EFAULT;
	if ((flags & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID)) &&
	    user_range_ok(child_tid, 4, true))
		return -EFAULT;
	int err;
	struct task *t = task_create_thread(flags, sp, tls, &err);
	if (!t)
		return err;
	if (flags & CLONE_CHILD_CLEARTID)
		t->clear_child_tid = child_tid;
	/* the same address space: writing them now is what the child would see */
	if (flags & CLONE_CHILD_SETTID)
		put_user_u32(t->pid, child_tid);
	if (flags & CLONE_PARENT_SETTID)
		put_user_u32(t->pid, parent_tid);
	return t->pid;
}

/* x86-64 argument order: flags, stack, parent_tid, child_tid, tls. */
long sys_clone(ulong flags, ulong sp, ulong parent_tid, ulong child_tid, ulong tls)
{
	return do_clone(flags, sp, parent_tid, child_tid, tls);
}

long sys_clone3(ulong uargs, ulong size)
{
	struct clone_args args;
	u8 extra;
	if (size < CLONE_ARGS_SIZE_VER0 || size > PAGE_SIZE)
		return -EINVAL;
	memset(&args, 0, sizeof(args));
	if (copy_from_user(&args, uargs, MIN(size, sizeof(args))))
		return -EFAULT;
	for (ulong off = sizeof(args); off < size; off++) { /* a newer struct: the rest is 0 */
		if (copy_from_user(&extra, uargs + off, 1))
			return -EFAULT;
		if (extra)
			return -E2BIG;
	}
	if (args.flags & CSIGNAL) /* clone3 has exit_signal for that */
		return -EINVAL;
	if ((args.exit_signal & ~(u64)CSIGNAL) || args.set_tid || args.set_tid_size ||
	    args.cgroup) /* pidfd is only read with CLONE_PIDFD, which is refused */
		return -EINVAL;
	if (!args.stack != !args.stack_size)
		return -EINVAL;
	if (args.stack &&
	    (args.stack_size > TASK_SIZE_MAX || args.stack > TASK_SIZE_MAX - args.stack_size))
		return -EINVAL;
	unsigned long sp = args.stack ? args.stack + args.stack_size : 0;
	return do_clone(args.flags, sp, args.parent_tid, args.child_tid, args.tls);
}
