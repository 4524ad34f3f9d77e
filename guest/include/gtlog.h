/*
 * Ground-truth log: JSON lines on the debug console port (0xe9), for tests only.
 * Enabled by gtlog=1 on the kernel command line. Format: guest/README.md.
 *
 * gtlog=mem writes the same lines into `gtlog_mem` in guest RAM instead: a host that keeps the
 * guest's RAM in a file (QEMU's memory-backend-file, share=on) reads them there once the
 * guest has ended, with no I/O exit per byte (the port costs ~3 us a byte under TCG). Lines
 * that no longer fit go to the port, and every line after them: the log is the buffer's text
 * followed by the port's.
 */
#ifndef GUEST_GTLOG_H
#define GUEST_GTLOG_H

#include "compiler.h"

struct pt_regs;
struct task;
struct ftrace_entry;

extern bool gtlog_enabled;

#define GTLOG_MEM_MAGIC "GTLOGMEM"
#define GTLOG_MEM_SIZE (16UL << 20)

struct gtlog_mem {
	char magic[8]; /* GTLOG_MEM_MAGIC once gtlog=mem is on */
	u64 size;      /* of data[] */
	u64 len;       /* bytes of data[] written, whole lines only */
	u64 spilled;   /* 1 once a line went to the port instead */
	char data[GTLOG_MEM_SIZE];
};

extern struct gtlog_mem gtlog_mem;
void gtlog_mem_start(void); /* at boot, with gtlog=mem: before the first line */

struct gtline {
	char buf[1536];
	size_t len;
};

void gt_begin(struct gtline *l, const char *ev);
void gt_u64(struct gtline *l, const char *key, u64 v);
void gt_str(struct gtline *l, const char *key, const char *s);
void gt_end(struct gtline *l);
void gt_end_to(struct gtline *l, u16 port); /* the same line on another port */

void gtlog_boot(const char *cmdline);
void gtlog_syscall_entry(int pid, const struct pt_regs *regs, int nr);
void gtlog_syscall_exit(int pid, int nr, long ret);
void gtlog_msr_write(u32 msr, u64 value, u64 old);
void gtlog_segbase(const char *which, u64 old, u64 new_value, const char *cause,
		   const struct task *t);
void gtlog_process_start(int pid, const char *path, u64 entry, u64 sp, u64 kernel_tcb);
void gtlog_process_exit(int pid, int status, int signal);
void gtlog_fault(int pid, int vector, const char *name, u64 error_code, u64 rip, u64 cr2);
void gtlog_context_switch(const struct task *prev, const struct task *next);
void gtlog_tls_switch(const char *which, u64 old, u64 new_value, int cause, const char *old_owner,
		      const char *new_owner, int pid, const char *via);
void gtlog_irq(const char *ev, unsigned long vector, int ring, u64 rip, int pid);
void gtlog_exception(const char *ev, unsigned long vector, const char *name, u64 error_code,
		     u64 cr2, int ring, u64 rip, int pid);
void gtlog_kthread_start(const struct task *t, u64 fn);
void gtlog_kthread_tick(const struct task *t, u64 tick, u64 work, u64 irqs);
void gtlog_kernel_tls(u64 tls_start, u64 memsz, u64 filesz, u64 align, u64 tp_offset);
void gtlog_tls_symbol(const char *name, long tpoff);
void gtlog_tls_mismatch(int pid, u64 fs_base, u64 tls_current, u64 expected);
void gtlog_ftrace_ring(u32 cpu, u64 head, u64 tail, u64 size, u64 overruns);
void gtlog_ftrace_entry(const struct ftrace_entry *e);
void gtlog_poweroff(int code);
void gtlog_panic(const char *msg);
void gtlog_thread_start(const struct task *t, u64 entry, u64 sp);
void gtlog_thread_exit(const struct task *t, int status, int signal);

#endif
