/* Not instrumented (Makefile NOTRACE_SRCS): the logger must not feed the function graph. */
#include "gtlog.h"
#include "boot.h"
#include "cpu.h"
#include "ftrace.h"
#include "ptrace.h"
#include "string.h"
#include "task.h"
#include "smp.h"
#include "tls.h"

#define DEBUGCON_PORT 0xe9

bool gtlog_enabled;
struct gtlog_mem gtlog_mem __attribute__((aligned(4096)));

static void gt_raw(struct gtline *l, const char *s)
{
	size_t n = strlen(s);
	if (l->len + n < sizeof(l->buf) - 3) {
		memcpy(l->buf + l->len, s, n);
		l->len += n;
	}
}

static void gt_key(struct gtline *l, const char *key)
{
	gt_raw(l, ",\"");
	gt_raw(l, key);
	gt_raw(l, "\":");
}

static void gt_num(struct gtline *l, u64 v)
{
	char tmp[24];
	snprintf(tmp, sizeof(tmp), "%lu", v);
	gt_raw(l, tmp);
}

/* The CPU writing the line, from the hardware: GS may be the user's mid-entry. */
static int gt_cpu(void)
{
	return cpu_from_apic_id();
}

static void gt_begin_nocpu(struct gtline *l, const char *ev)
{
	l->len = 0;
	gt_raw(l, "{\"ev\":\"");
	gt_raw(l, ev);
	gt_raw(l, "\",\"tsc\":");
	gt_num(l, rdtsc());
}

/* Every line says which CPU wrote it ("cpu"), except ftrace records (their own CPU). */
void gt_begin(struct gtline *l, const char *ev)
{
	gt_begin_nocpu(l, ev);
	gt_u64(l, "cpu", gt_cpu());
}

/* The thread the line is about, when it is the running one: its tid beside the pid. */
static void gt_tid(struct gtline *l)
{
	struct percpu *p = percpu_from_gs_base();
	struct task *t = p ? p->current_task : NULL;
	gt_u64(l, "tid", t ? t->pid : 0);
}

void gt_u64(struct gtline *l, const char *key, u64 v)
{
	gt_key(l, key);
	gt_num(l, v);
}

void gt_str(struct gtline *l, const char *key, const char *s)
{
	gt_key(l, key);
	gt_raw(l, "\"");
	for (; *s && l->len < sizeof(l->buf) - 16; s++) {
		unsigned char c = *s;
		if (c == '"' || c == '\\') {
			l->buf[l->len++] = '\\';
			l->buf[l->len++] = c;
		} else if (c < 0x20 || c >= 0x7f) {
			l->len += snprintf(l->buf + l->len, 7, "\\u%04x", c);
		} else {
			l->buf[l->len++] = c;
		}
	}
	gt_raw(l, "\"");
}

static spinlock_t gtlog_lock; /* one line at a time from all CPUs */

static void gt_close(struct gtline *l)
{
	l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
}

void gt_end_to(struct gtline *l, u16 port)
{
	gt_close(l);
	unsigned long flags = spin_lock_irqsave(&gtlog_lock);
	outsb(port, l->buf, l->len);
	spin_unlock_irqrestore(&gtlog_lock, flags);
}

/* The buffer while every line so far fitted, then the port (see gtlog.h). */
void gt_end(struct gtline *l)
{
	struct gtlog_mem *m = &gtlog_mem;
	if (!boot_params.gtlog_mem) {
		gt_end_to(l, DEBUGCON_PORT);
		return;
	}
	gt_close(l);
	unsigned long flags = spin_lock_irqsave(&gtlog_lock);
	if (!m->spilled && m->len + l->len <= m->size) {
		memcpy(m->data + m->len, l->buf, l->len);
		barrier();
		m->len += l->len;
	} else {
		m->spilled = 1;
		outsb(DEBUGCON_PORT, l->buf, l->len);
	}
	spin_unlock_irqrestore(&gtlog_lock, flags);
}

void gtlog_mem_start(void)
{
	gtlog_mem.size = sizeof(gtlog_mem.data);
	if (boot_params.gtlog_mem_room && boot_params.gtlog_mem_room < gtlog_mem.size)
		gtlog_mem.size = boot_params.gtlog_mem_room;
	gtlog_mem.len = 0;
	gtlog_mem.spilled = 0;
	barrier();
	memcpy(gtlog_mem.magic, GTLOG_MEM_MAGIC, sizeof(gtlog_mem.magic));
}

void gtlog_boot(const char *cmdline)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "boot");
	gt_str(&l, "cmdline", cmdline);
	gt_str(&l, "tls", tls_scheme_names[boot_params.tls]);
	gt_str(&l, "sched", boot_params.sched_parallel ? "parallel" : "sequential");
	gt_u64(&l, "kthread", boot_params.kthread > 0);
	gt_u64(&l, "lazymm", boot_params.lazymm);
	gt_u64(&l, "ftrace", boot_params.ftrace);
	gt_end(&l);
}

static const char *const pt_regs_names[] = {
	"r15", "r14", "r13", "r12", "bp",      "bx", "r11", "r10",   "r9", "r8", "ax",
	"cx",  "dx",  "si",  "di",  "orig_ax", "ip", "cs",  "flags", "sp", "ss",
};
_Static_assert(sizeof(pt_regs_names) / sizeof(pt_regs_names[0]) == sizeof(struct pt_regs) / 8,
	       "one name per pt_regs field");

void gtlog_syscall_entry(int pid, const struct pt_regs *regs, int nr)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "syscall_entry");
	gt_u64(&l, "pid", pid);
	gt_tid(&l);
	gt_u64(&l, "nr", (u32)nr);
	gt_raw(&l, ",\"args\":[");
	const unsigned long args[6] = {
		regs->di, regs->si, regs->dx, regs->r10, regs->r8, regs->r9
	};
	for (int i = 0; i < 6; i++) {
		if (i)
			gt_raw(&l, ",");
		gt_num(&l, args[i]);
	}
	gt_raw(&l, "]");
	gt_u64(&l, "rip", regs->ip);
	gt_u64(&l, "rsp", regs->sp);
	gt_raw(&l, ",\"regs\":{");
	const unsigned long *r = (const unsigned long *)regs;
	for (size_t i = 0; i < ARRAY_SIZE(pt_regs_names); i++) {
		gt_raw(&l, i ? ",\"" : "\"");
		gt_raw(&l, pt_regs_names[i]);
		gt_raw(&l, "\":");
		gt_num(&l, r[i]);
	}
	gt_raw(&l, "}");
	gt_end(&l);
}

void gtlog_syscall_exit(int pid, int nr, long ret)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "syscall_exit");
	gt_u64(&l, "pid", pid);
	gt_tid(&l);
	gt_u64(&l, "nr", (u32)nr);
	gt_u64(&l, "ret", (u64)ret);
	gt_end(&l);
}

void gtlog_msr_write(u32 msr, u64 value, u64 old)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "msr_write");
	gt_u64(&l, "msr", msr);
	gt_u64(&l, "value", value);
	gt_u64(&l, "old", old);
	gt_end(&l);
}

void gtlog_segbase(const char *which, u64 old, u64 new_value, const char *cause,
		   const struct task *t)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "segbase");
	gt_str(&l, "which", which);
	gt_u64(&l, "old", old);
	gt_u64(&l, "new", new_value);
	gt_str(&l, "cause", cause);
	gt_u64(&l, "pid", t->tgid);
	gt_u64(&l, "tid", t->pid);
	gt_end(&l);
}

void gtlog_process_start(int pid, const char *path, u64 entry, u64 sp, u64 kernel_tcb)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "process_start");
	gt_u64(&l, "pid", pid);
	gt_str(&l, "path", path);
	gt_u64(&l, "entry", entry);
	gt_u64(&l, "sp", sp);
	gt_u64(&l, "kernel_tcb", kernel_tcb);
	gt_end(&l);
}

void gtlog_process_exit(int pid, int status, int signal)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "process_exit");
	gt_u64(&l, "pid", pid);
	gt_u64(&l, "status", (u32)status);
	gt_u64(&l, "signal", (u32)signal);
	gt_end(&l);
}

void gtlog_fault(int pid, int vector, const char *name, u64 error_code, u64 rip, u64 cr2)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "fault");
	gt_u64(&l, "pid", pid);
	gt_tid(&l);
	gt_u64(&l, "vector", vector);
	gt_str(&l, "name", name);
	gt_u64(&l, "error_code", error_code);
	gt_u64(&l, "rip", rip);
	gt_u64(&l, "cr2", cr2);
	gt_end(&l);
}

void gtlog_context_switch(const struct task *prev, const struct task *next)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "context_switch");
	gt_u64(&l, "from", prev->pid);
	gt_u64(&l, "to", next->pid);
	gt_u64(&l, "from_pid", prev->tgid);
	gt_u64(&l, "from_tid", prev->pid);
	gt_str(&l, "from_comm", prev->comm);
	gt_str(&l, "from_state",
	       prev->state == TASK_RUNNING    ? "running"
	       : prev->state == TASK_SLEEPING ? "sleeping"
					      : "exited");
	gt_u64(&l, "to_pid", next->tgid);
	gt_u64(&l, "to_tid", next->pid);
	gt_str(&l, "to_comm", next->comm);
	gt_end(&l);
}

void gtlog_tls_switch(const char *which, u64 old, u64 new_value, int cause, const char *old_owner,
		      const char *new_owner, int pid, const char *via)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "tls_switch");
	gt_str(&l, "which", which);
	gt_u64(&l, "old", old);
	gt_u64(&l, "new", new_value);
	gt_str(&l, "cause", tls_cause_names[cause]);
	gt_str(&l, "old_owner", old_owner);
	gt_str(&l, "new_owner", new_owner);
	gt_u64(&l, "pid", pid);
	gt_tid(&l);
	gt_str(&l, "via", via);
	gt_end(&l);
}

void gtlog_irq(const char *ev, unsigned long vector, int ring, u64 rip, int pid)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, ev);
	gt_u64(&l, "vector", vector);
	gt_u64(&l, "ring", ring);
	gt_u64(&l, "rip", rip);
	gt_u64(&l, "pid", pid);
	gt_tid(&l);
	gt_end(&l);
}

void gtlog_exception(const char *ev, unsigned long vector, const char *name, u64 error_code,
		     u64 cr2, int ring, u64 rip, int pid)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, ev);
	gt_u64(&l, "vector", vector);
	gt_str(&l, "name", name);
	gt_u64(&l, "error_code", error_code);
	gt_u64(&l, "cr2", cr2);
	gt_u64(&l, "ring", ring);
	gt_u64(&l, "rip", rip);
	gt_u64(&l, "pid", pid);
	gt_tid(&l);
	gt_end(&l);
}

void gtlog_kthread_start(const struct task *t, u64 fn)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "kthread_start");
	gt_u64(&l, "tid", t->pid);
	gt_u64(&l, "pid", t->pid);
	gt_str(&l, "comm", t->comm);
	gt_u64(&l, "fn", fn);
	gt_u64(&l, "kernel_tcb", t->kernel_tcb);
	gt_end(&l);
}

void gtlog_kthread_tick(const struct task *t, u64 tick, u64 work, u64 irqs)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "kthread_tick");
	gt_u64(&l, "tid", t->pid);
	gt_u64(&l, "tick", tick);
	gt_u64(&l, "work", work);
	gt_u64(&l, "irqs", irqs);
	gt_end(&l);
}

void gtlog_kernel_tls(u64 tls_start, u64 memsz, u64 filesz, u64 align, u64 tp_offset)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "kernel_tls");
	gt_u64(&l, "image", tls_start);
	gt_u64(&l, "memsz", memsz);
	gt_u64(&l, "filesz", filesz);
	gt_u64(&l, "align", align);
	gt_u64(&l, "tp_offset", tp_offset);
	gt_u64(&l, "tcb_size", sizeof(struct kernel_tcb));
	gt_end(&l);
}

void gtlog_tls_symbol(const char *name, long tpoff)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "kernel_tls_symbol");
	gt_str(&l, "name", name);
	gt_u64(&l, "tpoff", (u64)tpoff);
	gt_end(&l);
}

void gtlog_tls_mismatch(int pid, u64 fs_base, u64 tls_current, u64 expected)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "tls_mismatch");
	gt_u64(&l, "pid", pid);
	gt_tid(&l);
	gt_u64(&l, "fs_base", fs_base);
	gt_u64(&l, "tls_current", tls_current);
	gt_u64(&l, "expected", expected);
	gt_end(&l);
}

void gtlog_ftrace_ring(u32 cpu, u64 head, u64 tail, u64 size, u64 overruns)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin_nocpu(&l, "ftrace_ring");
	gt_u64(&l, "cpu", cpu);
	gt_u64(&l, "head", head);
	gt_u64(&l, "tail", tail);
	gt_u64(&l, "size", size);
	gt_u64(&l, "overruns", overruns);
	gt_end(&l);
}

void gtlog_ftrace_entry(const struct ftrace_entry *e)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin_nocpu(&l, "ftrace");
	gt_u64(&l, "time", e->tsc);
	gt_u64(&l, "func", e->func_addr);
	gt_str(&l, "type", e->type == FTRACE_TYPE_EXIT ? "exit" : "entry");
	gt_u64(&l, "depth", e->depth);
	gt_u64(&l, "cpu", e->cpu);
	gt_u64(&l, "pid", e->pid);
	gt_u64(&l, "retval", e->retval);
	gt_end(&l);
}

void gtlog_poweroff(int code)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "poweroff");
	gt_u64(&l, "code", code);
	gt_end(&l);
}

void gtlog_panic(const char *msg)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "panic");
	gt_str(&l, "msg", msg);
	gt_end(&l);
}

void gtlog_thread_start(const struct task *t, u64 entry, u64 sp)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "thread_start");
	gt_u64(&l, "pid", t->tgid);
	gt_u64(&l, "tid", t->pid);
	gt_u64(&l, "entry", entry);
	gt_u64(&l, "sp", sp);
	gt_u64(&l, "fs_base", t->thread.fs_base);
	gt_u64(&l, "kernel_tcb", t->kernel_tcb);
	gt_end(&l);
}

void gtlog_thread_exit(const struct task *t, int status, int signal)
{
	struct gtline l;
	if (!gtlog_enabled)
		return;
	gt_begin(&l, "thread_exit");
	gt_u64(&l, "pid", t->tgid);
	gt_u64(&l, "tid", t->pid);
	gt_u64(&l, "status", (u32)status);
	gt_u64(&l, "signal", (u32)signal);
	gt_end(&l);
}
