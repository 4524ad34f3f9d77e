/* Processes, kernel stacks and the scheduler. */
#ifndef GUEST_TASK_H
#define GUEST_TASK_H

#include "compiler.h"
#include "percpu.h"
#include "uapi.h"

#define PTREGS_SIZE_C 168 /* sizeof(struct pt_regs), checked in syscall.c */

struct mm;
struct pt_regs;
struct boot_module;

enum task_state {
	TASK_RUNNING, /* runnable or running */
	TASK_SLEEPING,
	TASK_ZOMBIE, /* exited; kernel stack still to be reclaimed */
	TASK_DEAD,
};

/* Saved by the context switch; sp must stay the first field (TASK_thread_sp). */
struct thread_struct {
	unsigned long sp;      /* kernel RSP while switched out */
	unsigned long fs_base; /* user FS base */
	unsigned long gs_base; /* user GS base (lives in KERNEL_GS_BASE while in the kernel) */
};

struct fxregs_state {
	u8 bytes[512];
} __aligned(16);

#define PF_KTHREAD 0x00200000 /* a kernel thread (Linux's value); the idle task has it too */

struct ftrace_ret_stack;

struct task {
	struct thread_struct thread;
	int pid;		   /* the thread id (Linux's task_struct.pid) */
	int tgid;		   /* the process id: the group leader's pid */
	struct task *group_leader; /* owns what threads share: signals, limits, files */
	/* group leader only: live threads, and exit_group's status once one was called */
	int nr_threads;
	bool group_exiting;
	int group_exit_code, group_exit_signal;
	/* futex wait (kernel/futex.c): the word it sleeps on, and whether a wake ended it */
	struct mm *futex_mm;
	unsigned long futex_uaddr;
	u32 futex_bitset;
	bool futex_woken;
	u64 cpus_allowed; /* sched_setaffinity mask */
	bool on_cpu;	  /* running (or being switched away from) on some CPU */
	enum task_state state;
	struct mm *mm;	      /* NULL for kernel threads (idle, kthreads) */
	unsigned long kstack; /* base of the kernel stack (direct map) */
	unsigned long kstack_top;
	unsigned int flags;	  /* PF_KTHREAD */
	unsigned long kernel_tcb; /* thread pointer of this thread's kernel TLS block (tls.h) */
	/* function graph: the shadow return stack of hooked frames (ftrace.h) */
	struct ftrace_ret_stack *ret_stack;
	int curr_ret_stack;	   /* frames in use */
	int ftrace_graph_active;   /* hooked ftrace_graph_funcs frames on the stack */
	int ftrace_notrace_active; /* hooked ftrace_notrace_funcs frames on the stack */
	bool tls_warned;	   /* its thread-locals were found not to be its own */
	u64 wake_at_ns;
	bool need_resched;
	int exit_code; /* 0..255 for exit(), 128 + signal when killed */
	int exit_signal;
	char comm[16]; /* basename of the executable */
	char exe[256]; /* path as given on the command line */
	unsigned long clear_child_tid;
	unsigned long robust_list;
	u64 sigmask;
	struct user_stack_t altstack;
	/* process-wide (CLONE_SIGHAND, CLONE_FILES): read through group_of(t) */
	struct kernel_sigaction sigaction[_NSIG];
	struct rlimit64 rlim[RLIM_NLIMITS];
	unsigned open_fds; /* bit n set: fd n (0..2, the console) is open */
	struct fxregs_state fpu; /* user SSE/x87 state while switched out */
	struct task *next_task;	 /* all tasks, in creation order */
};

static inline struct task *get_current(void)
{
	struct task *t;
	__asm__("movq %%gs:%c1, %0" : "=r"(t) : "i"(PERCPU_current_task));
	return t;
}
#define current get_current()

extern struct task *task_list;
extern struct task idle_task;

void sched_init(void);
struct task *task_create_user(const struct boot_module *mod, int *err);
/* A kernel thread running fn(arg) on its own stack and kernel TLS block; tids from 1000. */
struct task *kthread_create(void (*fn)(void *), void *arg, const char *name);
void kthreads_start(void);
void schedule(void);
void preempt_schedule_irq(void);
void scheduler_tick(void);
void task_list_add(struct task *t);
void __noreturn cpu_idle_loop(void);
void __noreturn do_exit(int exit_code, int signal);
void sleep_until_ns(u64 deadline_ns);
void wake_up_task(struct task *t); /* a sleeping task becomes runnable */
/* CLONE_CHILD_CLEARTID at a thread's exit: wake one waiter on the tid word (futex.c). */
long futex_wake_tid_address(struct mm *mm, unsigned long uaddr);
void wake_sleepers(void);
void exit_to_user_mode(struct pt_regs *regs);
void ret_from_fork(struct pt_regs *regs, void (*kthread_fn)(void *), void *kthread_arg,
		   struct task *prev);
/* After a context switch, on the new task's stack: prev is off the CPU now. */
void finish_task_switch(struct task *prev);
struct task *pick_next_task(struct task *prev);
/* Per-thread resources every task has: kernel TLS block + TCB, ftrace shadow stack. */
int task_alloc_thread_state(struct task *t);
void task_free_thread_state(struct task *t);

static inline bool is_kthread(const struct task *t)
{
	return t->flags & PF_KTHREAD;
}

/* A CPU's idle task (swapper/N): never picked from the task list by another CPU. */
static inline bool is_idle_task(const struct task *t)
{
	return t->pid == 0;
}

/* The task holding a thread's process-wide state (itself for a single-threaded process). */
static inline struct task *group_of(struct task *t)
{
	return t->group_leader ? t->group_leader : t;
}

/* exit_group (or a fatal signal) ended the thread's process: it must not return to user. */
static inline bool thread_killed(struct task *t)
{
	return group_of(t)->group_exiting;
}

/* The user registers a syscall or interrupt from ring 3 saved on the kernel stack. */
static inline struct pt_regs *task_pt_regs(struct task *t)
{
	return (struct pt_regs *)(t->kstack_top - PTREGS_SIZE_C);
}

int alloc_pid(void);
unsigned long kstack_alloc(void);
void task_release(struct task *t); /* a task that never ran: its memory back */
/* The frame __switch_to_asm resumes a new task from (process.c). */
void init_switch_frame(struct task *t, struct pt_regs *regs, void (*fn)(void *), void *arg);

/* exit_group / a fatal signal: every thread of the process ends with this status. */
void __noreturn do_group_exit(int exit_code, int signal);
/* A new thread in the caller's process (kernel/clone.c). */
struct task *task_create_thread(unsigned long flags, unsigned long sp, unsigned long tls,
				int *err);

#endif
