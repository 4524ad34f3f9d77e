/*
 * The TLS schemes (include/tls.h): kernel TLS blocks, the OSv-style entry/exit switch, and
 * the one writer of FS_BASE / GS_BASE / KERNEL_GS_BASE, which logs every change with its cause
 * and the owners of the old and new values. Not instrumented (Makefile NOTRACE_SRCS): the
 * switch runs while FS may still be the app's.
 */
#include "tls.h"
#include "console.h"
#include "cpu.h"
#include "gtlog.h"
#include "mm.h"
#include "msr.h"
#include "ptrace.h"
#include "smp.h"
#include "string.h"
#include "task.h"

__thread struct task *tls_current;
__thread unsigned long tls_syscall_count;
__thread unsigned long tls_last_syscall_nr;
__thread unsigned long tls_irq_count;
__thread unsigned long tls_exception_count;
__thread unsigned long tls_kthread_ticks;
__thread unsigned long tls_magic = KERNEL_TLS_MAGIC;
__thread unsigned long tls_syscall_history[TLS_SYSCALL_HISTORY];

bool tls_kernel_uses_fs;
bool tls_entry_switch;
bool tls_use_wrfsbase;

const char *const tls_scheme_names[] = { "linux", "osv", "gs", "broken" };
const char *const tls_cause_names[] = {
	[TLS_CAUSE_BOOT] = "boot",
	[TLS_CAUSE_SYSCALL_ENTRY] = "syscall_entry",
	[TLS_CAUSE_SYSCALL_EXIT] = "syscall_exit",
	[TLS_CAUSE_IRQ_ENTRY] = "irq_entry",
	[TLS_CAUSE_IRQ_EXIT] = "irq_exit",
	[TLS_CAUSE_EXCEPTION_ENTRY] = "exception_entry",
	[TLS_CAUSE_EXCEPTION_EXIT] = "exception_exit",
	[TLS_CAUSE_CONTEXT_SWITCH] = "context_switch",
	[TLS_CAUSE_ARCH_PRCTL] = "arch_prctl",
	[TLS_CAUSE_RET_FROM_FORK] = "ret_from_fork",
};

/* kernel.ld: the PT_TLS image (absolute symbols for the sizes). */
extern char __tls_start[], __tls_filesz[], __tls_memsz[], __tls_align[];
/* The distance from a block's start to its thread pointer: ALIGN_UP(memsz, p_align). */
static unsigned long tls_tp_offset;

/* [0]: the `mov %fs:0` of that check, [1]: the instruction after it (an exception fixup). */
extern const unsigned long tls_fs0_fixup[2];

static void log_symbols(void)
{
#define LOG_TLS_SYMBOL(var) gtlog_tls_symbol(#var, tls_tpoff(var))
	LOG_TLS_SYMBOL(tls_current);
	LOG_TLS_SYMBOL(tls_syscall_count);
	LOG_TLS_SYMBOL(tls_last_syscall_nr);
	LOG_TLS_SYMBOL(tls_irq_count);
	LOG_TLS_SYMBOL(tls_exception_count);
	LOG_TLS_SYMBOL(tls_kthread_ticks);
	LOG_TLS_SYMBOL(tls_magic);
	LOG_TLS_SYMBOL(tls_syscall_history);
#undef LOG_TLS_SYMBOL
}

void tls_init(void)
{
	unsigned long memsz = (unsigned long)__tls_memsz, align = (unsigned long)__tls_align;
	if (!align || (align & (align - 1)))
		align = 8;
	tls_tp_offset = ALIGN_UP(memsz, align);
	if (tls_tp_offset + sizeof(struct kernel_tcb) > PAGE_SIZE)
		panic("kernel TLS block (%lu bytes) does not fit a page", tls_tp_offset);
	tls_kernel_uses_fs = tls_scheme == TLS_OSV || tls_scheme == TLS_BROKEN;
	tls_entry_switch = tls_scheme == TLS_OSV;
	tls_use_wrfsbase = boot_params.wrfsbase && boot_cpu.fsgsbase;
	gtlog_kernel_tls((u64)__tls_start, memsz, (u64)__tls_filesz, align, tls_tp_offset);
	log_symbols();
}

unsigned long kernel_tls_alloc(struct task *owner)
{
	u64 page = alloc_page();
	if (!page)
		return 0;
	char *block = phys_to_virt(page);
	memcpy(block, __tls_start, (unsigned long)__tls_filesz); /* .tdata; .tbss stays zero */
	unsigned long tp = (unsigned long)block + tls_tp_offset;
	struct kernel_tcb *tcb = (struct kernel_tcb *)tp;
	tcb->self = tcb;
	tcb->task = owner;
	*(struct task **)(tp + tls_tpoff(tls_current)) = owner;
	if (*(unsigned long *)(tp + tls_tpoff(tls_magic)) != KERNEL_TLS_MAGIC)
		panic("kernel TLS layout: tls_magic is not at TP%ld", tls_tpoff(tls_magic));
	return tp;
}

void kernel_tls_free(unsigned long tp)
{
	if (tp)
		free_page(virt_to_phys((void *)(tp - tls_tp_offset)));
}

/* The last app TCB loaded into FS and its thread, which may have exited since. */
static unsigned long last_app_fs;
static int last_app_fs_pid, last_app_fs_tid;

/* Who a base value belongs to, for the ground-truth log (see guest/README.md). */
static void describe_base(const char *which, unsigned long value, char *buf, size_t n)
{
	if (!value) {
		strlcpy(buf, "zero", n);
		return;
	}
	for (int c = 0; c < nr_cpus; c++)
		if (percpu_of[c] && value == (unsigned long)percpu_of[c]) {
			snprintf(buf, n, "percpu[cpu %d]", c);
			return;
		}
	for (struct task *t = task_list; t; t = t->next_task)
		if (t->kernel_tcb == value) {
			snprintf(buf, n, "kernel-tcb[thread %d]", t->pid);
			return;
		}
	if (which[0] == 'f') {
		int pid = value == last_app_fs ? last_app_fs_pid : -1;
		int tid = value == last_app_fs ? last_app_fs_tid : -1;
		for (struct task *t = task_list; t; t = t->next_task)
			if (!is_kthread(t) && t->thread.fs_base == value) {
				pid = t->tgid;
				tid = t->pid;
				last_app_fs = value;
				last_app_fs_pid = pid;
				last_app_fs_tid = tid;
			}
		if (pid >= 0 && tid != pid) /* a thread's own TCB */
			snprintf(buf, n, "app-tcb[pid %d tid %d]", pid, tid);
		else if (pid >= 0)
			snprintf(buf, n, "app-tcb[pid %d]", pid);
		else
			strlcpy(buf, "unknown", n);
		return;
	}
	strlcpy(buf, "user-gs", n);
}

static int current_pid(void)
{
	return this_cpu()->current_task ? this_cpu()->current_task->tgid : 0;
}

static void log_switch(const char *which, u64 old, u64 new_value, int cause, const char *via)
{
	char old_owner[40], new_owner[40];
	if (!gtlog_enabled)
		return;
	/* the task list: entry and exit switches run without the kernel lock */
	bool locked = percpu_ready && nr_cpus > 1;
	if (locked)
		kernel_lock();
	describe_base(which, old, old_owner, sizeof(old_owner));
	describe_base(which, new_value, new_owner, sizeof(new_owner));
	gtlog_tls_switch(which, old, new_value, cause, old_owner, new_owner, current_pid(), via);
	if (locked)
		kernel_unlock();
}

unsigned long read_fs_base(void)
{
	return rdmsr(MSR_FS_BASE);
}

static void write_base(u32 msr, u64 old, unsigned long value, int cause)
{
	const char *which = msr == MSR_FS_BASE ? "fs" : msr == MSR_GS_BASE ? "gs" : "kgs";
	bool via_wrfsbase = msr == MSR_FS_BASE && tls_use_wrfsbase && cause != TLS_CAUSE_BOOT;
	if (via_wrfsbase)
		__asm__ volatile("wrfsbase %0" ::"r"(value) : "memory");
	else
		wrmsr(msr, value);
	if (msr == MSR_FS_BASE)
		this_cpu()->fs_base_loaded = value;
	log_switch(which, old, value, cause, via_wrfsbase ? "wrfsbase" : "wrmsr");
}

void set_fs_base(unsigned long value, int cause)
{
	u64 old = read_fs_base();
	if (old != value)
		write_base(MSR_FS_BASE, old, value, cause);
}

/* Boot writes happen even when the value is already there (they initialise the MSR). */
void set_segbase_msr(u32 msr, unsigned long value, int cause)
{
	u64 old = rdmsr(msr);
	if (old != value || cause == TLS_CAUSE_BOOT)
		write_base(msr, old, value, cause);
}

/*
 * OSv's check (issue #1137): fs:0 is the self pointer of whatever TCB FS points at. Equal to
 * the per-CPU copy of this thread's kernel TCB: we are already on it (a nested entry, or a
 * thread without an app TCB). Else save the app's FS and load the kernel TCB. Returns whether
 * it switched, which the stub keeps in %r12 for tls_switch_to_app.
 */
notrace bool tls_switch_to_kernel(struct pt_regs *regs, int cause)
{
	unsigned long self = 0, ktcb = this_cpu_kernel_tcb();
	struct percpu *p = this_cpu();
	if (!p->fs0_checking) { /* else: this entry is the fault of that very read */
		p->fs0_checking = true;
		if (boot_cpu.smap_on)
			__asm__ volatile("stac" ::: "memory");
		__asm__ volatile("1: movq %%fs:0, %%rax\n"
				 "2:\n"
				 ".pushsection .rodata\n"
				 ".balign 8\n"
				 ".globl tls_fs0_fixup\n"
				 ".type tls_fs0_fixup, @object\n"
				 ".size tls_fs0_fixup, 16\n"
				 "tls_fs0_fixup: .quad 1b, 2b\n"
				 ".popsection"
				 : "=a"(self)
				 :
				 : "memory");
		if (boot_cpu.smap_on)
			__asm__ volatile("clac" ::: "memory");
		p->fs0_checking = false;
	}
	if (self == ktcb)
		return false;
	struct task *t = this_cpu()->current_task;
	t->thread.fs_base = read_fs_base(); /* the app TCB, even if moved with wrfsbase */
	set_fs_base(ktcb, cause);
	return true;
}

/* Back to the app TCB when returning to user mode (or undoing a nested switch). */
notrace void tls_switch_to_app(struct pt_regs *regs, int cause, bool switched)
{
	if (!user_mode(regs) && !switched)
		return;
	unsigned long app = this_cpu()->current_task->thread.fs_base;
	if (app) /* a thread that never set one runs on its kernel TCB */
		set_fs_base(app, cause);
}

/* A fault on the fs:0 read (the app unmapped its TCB): treat it as "not the kernel TCB". */
bool tls_fs0_fault_fixup(struct pt_regs *regs)
{
	if (!this_cpu()->fs0_checking || regs->ip != tls_fs0_fixup[0])
		return false;
	regs->ip = tls_fs0_fixup[1];
	regs->ax = 0;
	return true;
}

static void log_legacy_segbase(const char *which, u64 old, u64 value, const char *cause,
			       const struct task *t)
{
	if (old != value)
		gtlog_segbase(which, old, value, cause, t);
}

notrace void tls_context_switch(struct task *prev, struct task *next)
{
	if (prev->mm) {
		unsigned long fs = read_fs_base();
		/* osv: FS holds prev's kernel TCB here, the app's was saved at entry */
		if (tls_scheme != TLS_OSV && fs != prev->kernel_tcb)
			prev->thread.fs_base = fs;
		prev->thread.gs_base = rdmsr(MSR_KERNEL_GS_BASE); /* the user's GS while we run */
	}
	unsigned long old_fs = read_fs_base();
	switch (tls_scheme) {
	case TLS_LINUX:
	case TLS_GS:
		if (next->mm) {
			set_fs_base(next->thread.fs_base, TLS_CAUSE_CONTEXT_SWITCH);
			log_legacy_segbase("fs", old_fs, next->thread.fs_base, "context_switch",
					   next);
		}
		break;
	case TLS_OSV:
		set_fs_base(next->kernel_tcb, TLS_CAUSE_CONTEXT_SWITCH);
		break;
	case TLS_BROKEN: /* the user's FS if it set one: the kernel then runs on it */
		if (next->mm && next->thread.fs_base) {
			set_fs_base(next->thread.fs_base, TLS_CAUSE_CONTEXT_SWITCH);
			log_legacy_segbase("fs", old_fs, next->thread.fs_base, "context_switch",
					   next);
		} else {
			set_fs_base(next->kernel_tcb, TLS_CAUSE_CONTEXT_SWITCH);
		}
		break;
	}
	if (next->mm) {
		u64 old_kgs = rdmsr(MSR_KERNEL_GS_BASE);
		set_segbase_msr(MSR_KERNEL_GS_BASE, next->thread.gs_base, TLS_CAUSE_CONTEXT_SWITCH);
		log_legacy_segbase("kgs", old_kgs, next->thread.gs_base, "context_switch",
				   next);
	}
	this_cpu()->kernel_tcb = next->kernel_tcb;
}

void tls_set_user_fs(struct task *t, unsigned long addr)
{
	u64 old = tls_get_user_fs(t);
	t->thread.fs_base = addr;
	/* osv: stored for the exit switch (OSv's app_tcb); FS stays the kernel TCB until then */
	if (tls_scheme != TLS_OSV)
		set_fs_base(addr ? addr : (tls_scheme == TLS_BROKEN ? t->kernel_tcb : 0),
			    TLS_CAUSE_ARCH_PRCTL);
	gtlog_segbase("fs", old, addr, "arch_prctl", t);
}

unsigned long tls_get_user_fs(struct task *t)
{
	if (tls_scheme == TLS_OSV)
		return t->thread.fs_base;
	unsigned long fs = read_fs_base();
	return fs == t->kernel_tcb ? t->thread.fs_base : fs;
}
