/*
 * Scheduling: round robin over one task list. The timer preempts user mode (and kernel
 * threads that run with interrupts on) when another task is runnable; the rest of the kernel
 * runs with interrupts off. Programs start one after another (sched=sequential, the default)
 * or all at once (sched=parallel).
 */
#include "arch.h"
#include "boot.h"
#include "console.h"
#include "cpu.h"
#include "gtlog.h"
#include "mm.h"
#include "msr.h"
#include "ptrace.h"
#include "string.h"
#include "task.h"
#include "time.h"
#include "smp.h"
#include "tls.h"
#include "uaccess.h"

struct task *task_list;
struct task idle_task;
static int next_module;
static int final_status = EXIT_ALL_OK;
struct fxregs_state init_fpu_state;

struct task *__switch_to_asm(struct task *prev, struct task *next); /* returns prev */
void kstack_free(unsigned long kstack);

extern char boot_stack_top[];

static void fxsave(struct fxregs_state *s)
{
	__asm__ volatile("fxsave64 %0" : "=m"(*s));
}
static void fxrstor(const struct fxregs_state *s)
{
	__asm__ volatile("fxrstor64 %0" ::"m"(*s));
}

void sched_init(void)
{
	idle_task.pid = 0;
	idle_task.state = TASK_RUNNING;
	idle_task.flags = PF_KTHREAD;
	strlcpy(idle_task.comm, "swapper", sizeof(idle_task.comm));
	idle_task.kstack_top = (unsigned long)boot_stack_top;
	task_list = &idle_task;
	idle_task.on_cpu = true;
	idle_task.cpus_allowed = 1;
	cpu0_percpu.current_task = cpu0_percpu.idle = &idle_task;
	if (task_alloc_thread_state(&idle_task))
		panic("no memory for the idle task's kernel TLS block");
	cpu0_percpu.kernel_tcb = idle_task.kernel_tcb;
	if (tls_kernel_uses_fs) /* osv, broken: the kernel's thread-locals are on FS from now on */
		set_fs_base(idle_task.kernel_tcb, TLS_CAUSE_BOOT);
	__asm__ volatile("fninit");
	u32 mxcsr = 0x1f80;
	__asm__ volatile("ldmxcsr %0" ::"m"(mxcsr));
	fxsave(&init_fpu_state);
}

/* prev has left the CPU (its stack is no longer in use): another CPU may pick it now. */
notrace void finish_task_switch(struct task *prev)
{
	prev->on_cpu = false;
}

/*
 * Switch the CPU from prev to next; returns when prev runs again (maybe on another CPU). The
 * kernel lock stays with the CPU across the switch; its depth is the resumed task's.
 */
static noinline __attribute__((noclone)) void context_switch(struct task *prev, struct task *next)
{
	int lock_depth = kernel_lock_depth();
	if (prev->mm)
		fxsave(&prev->fpu);
	if (next->mm)
		fxrstor(&next->fpu);
	next->on_cpu = true;
	mm_activate(next->mm);
	set_kernel_stack(next->kstack_top);
	tls_context_switch(prev, next); /* FS, KERNEL_GS_BASE, percpu.kernel_tcb */
	this_cpu()->current_task = next;
	gtlog_context_switch(prev, next);
	struct task *last = __switch_to_asm(prev, next);
	finish_task_switch(last);
	kernel_lock_set_depth(lock_depth);
}

/* May this CPU run t? Not an idle task, runnable, not running elsewhere, allowed here. */
static notrace bool can_run_here(const struct task *t, int cpu)
{
	return !is_idle_task(t) && t->state == TASK_RUNNING && !t->on_cpu &&
	       (t->cpus_allowed & (1UL << cpu));
}

/* Round robin over the task list, starting after prev; this CPU's idle task if none. */
notrace struct task *pick_next_task(struct task *prev)
{
	int cpu = this_cpu_id();
	struct task *t = prev->next_task ? prev->next_task : task_list;
	for (struct task *start = t;;) {
		if (can_run_here(t, cpu))
			return t;
		t = t->next_task ? t->next_task : task_list;
		if (t == start)
			break;
	}
	return this_cpu()->idle;
}

void schedule(void)
{
	struct task *prev = current;
	prev->need_resched = false;
	struct task *next = pick_next_task(prev);
	if (next == this_cpu()->idle && prev->state == TASK_RUNNING && !is_idle_task(prev) &&
	    (prev->cpus_allowed & (1UL << this_cpu_id())))
		next = prev; /* nothing else to run: keep going */
	if (next != prev)
		context_switch(prev, next);
}

/* Back to ring 3 (with the kernel lock; the caller drops it): reschedule, or die if killed. */
void exit_to_user_mode(struct pt_regs *regs)
{
	(void)regs;
	if (current->need_resched)
		schedule();
	if (thread_killed(current))
		do_exit(0, 0); /* its process ended (exit_group, a fatal signal) */
}

/* Kernel preemption from an interrupt, for kernel threads that run with interrupts on. */
void preempt_schedule_irq(void)
{
	if (current->need_resched)
		schedule();
}

static bool other_task_runnable(struct task *cur)
{
	int cpu = this_cpu_id();
	for (struct task *t = task_list; t; t = t->next_task)
		if (t != cur && can_run_here(t, cpu))
			return true;
	return false;
}

/* Every timer tick: the running task's slice (one tick) is over when someone else can run. */
void scheduler_tick(void)
{
	struct task *cur = current;
	if (!is_idle_task(cur) && other_task_runnable(cur))
		cur->need_resched = true;
}

void wake_sleepers(void)
{
	u64 now = ktime_get_ns();
	for (struct task *t = task_list; t; t = t->next_task)
		if (t->state == TASK_SLEEPING && t->wake_at_ns <= now)
			wake_up_task(t);
}

void sleep_until_ns(u64 deadline_ns)
{
	struct task *t = current;
	if (ktime_get_ns() >= deadline_ns)
		return;
	t->wake_at_ns = deadline_ns;
	t->state = TASK_SLEEPING;
	while (t->state == TASK_SLEEPING)
		schedule();
}

void wake_up_task(struct task *t)
{
	if (t->state == TASK_SLEEPING) {
		t->state = TASK_RUNNING;
		kick_idle_cpu();
	}
}

/* The last thread of a process is gone: its status is the process's. */
static void process_exit(struct task *leader, int exit_code, int signal)
{
	if (leader->group_exiting) {
		exit_code = leader->group_exit_code;
		signal = leader->group_exit_signal;
	}
	gtlog_process_exit(leader->tgid, exit_code, signal);
	report_program_exit(leader->tgid, leader->exe, exit_code, signal);
	if (exit_code && final_status < EXIT_PROCESS_FAILED)
		final_status = EXIT_PROCESS_FAILED;
	if (boot_params.verbose || (exit_code && !signal))
		printk("kernel: pid %d (%s) exited with status %d\n", leader->tgid, leader->comm,
		       exit_code);
	leader->exit_code = exit_code;
	leader->exit_signal = signal;
}

/* This thread ends; its process too when it was the last one (exit() against exit_group). */
void __noreturn do_exit(int exit_code, int signal)
{
	struct task *t = current, *leader = group_of(t);
	struct mm *mm = t->mm;
	if (mm && t->clear_child_tid && !put_user_u32(0, t->clear_child_tid))
		futex_wake_tid_address(mm, t->clear_child_tid); /* pthread_join waits on it */
	t->exit_code = exit_code;
	t->exit_signal = signal;
	if (!is_kthread(t)) {
		gtlog_thread_exit(t, exit_code, signal);
		if (--leader->nr_threads == 0) {
			process_exit(leader, exit_code, signal);
			mm_activate(NULL);
			mm_destroy(mm);
		}
	}
	t->mm = NULL;
	t->state = TASK_ZOMBIE;
	schedule();
	panic("zombie pid %d was scheduled", t->pid);
}

/* exit_group, a fatal signal or fault: every thread of the process ends with this status. */
void __noreturn do_group_exit(int exit_code, int signal)
{
	struct task *t = current, *leader = group_of(t);
	if (!leader->group_exiting) {
		leader->group_exiting = true;
		leader->group_exit_code = exit_code;
		leader->group_exit_signal = signal;
		/* the others end on their way back to user mode (exit_to_user_mode) */
		for (struct task *o = task_list; o; o = o->next_task)
			if (o != t && !is_kthread(o) && group_of(o) == leader)
				wake_up_task(o);
	}
	do_exit(exit_code, signal);
}

static bool user_tasks_alive(void)
{
	for (struct task *t = task_list; t; t = t->next_task)
		if (!is_kthread(t) && (t->state == TASK_RUNNING || t->state == TASK_SLEEPING))
			return true;
	return false;
}

/* A zombie's memory can go, unless it leads a process whose other threads still run. */
static bool reapable(struct task *t)
{
	return t->state == TASK_ZOMBIE && !t->on_cpu && !(t->group_leader == t && t->nr_threads);
}

static void reap_zombies(void)
{
	struct task **pp = &task_list;
	while (*pp) {
		struct task *t = *pp;
		if (reapable(t)) {
			*pp = t->next_task;
			kstack_free(t->kstack);
			task_free_thread_state(t);
			free_page(virt_to_phys(t));
		} else {
			pp = &t->next_task;
		}
	}
}

void task_list_add(struct task *t)
{
	struct task **pp = &task_list;
	while (*pp)
		pp = &(*pp)->next_task;
	*pp = t;
}

static void start_next_program(void)
{
	int err;
	struct task *t = task_create_user(&boot_modules[next_module++], &err);
	if (!t) {
		final_status = EXIT_BAD_PROGRAM;
		return;
	}
	task_list_add(t);
}

static u64 earliest_wakeup(void)
{
	u64 w = ~0UL;
	for (struct task *t = task_list; t; t = t->next_task)
		if (t->state == TASK_SLEEPING && t->wake_at_ns < w)
			w = t->wake_at_ns;
	return w;
}

/* Idle: look for work with the kernel lock, halt without it until an interrupt. */
static void idle_wait(u64 wake_ns)
{
	u64 now = ktime_get_ns();
	kernel_unlock();
	/* Short waits spin on the TSC; longer ones sleep until the next timer tick. */
	if (wake_ns <= now || wake_ns - now < TICK_NSEC)
		cpu_relax();
	else
		safe_halt();
	kernel_lock();
}

/* The boot CPU's idle task: also starts the programs and powers off after the last one. */
notrace void __noreturn cpu_idle_loop(void)
{
	kernel_lock();
	if (boot_params.sched_parallel)
		while (next_module < nr_boot_modules)
			start_next_program();
	kthreads_start();
	for (;;) {
		reap_zombies();
		if (!user_tasks_alive()) {
			if (next_module < nr_boot_modules) {
				start_next_program();
				continue;
			}
			poweroff(final_status);
		}
		wake_sleepers();
		if (pick_next_task(&idle_task) != &idle_task) {
			schedule();
			continue;
		}
		idle_wait(earliest_wakeup());
	}
}

/* The other CPUs' idle tasks (with the kernel lock, from ap_main). */
notrace void __noreturn ap_idle_loop(void)
{
	struct task *idle = this_cpu()->idle;
	for (;;) {
		if (pick_next_task(idle) != idle) {
			schedule();
			continue;
		}
		idle_wait(earliest_wakeup());
	}
}
