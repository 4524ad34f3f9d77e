/*
 * Ground-truth log: JSON lines on the debug console port (0xe9), for tests only.
 * Enabled by gtlog=1 on the kernel command line. Format: guest/README.md.
 */
#ifndef GUEST_GTLOG_H
#define GUEST_GTLOG_H

#include "compiler.h"

struct pt_regs;

extern bool gtlog_enabled;

struct gtline {
	char buf[1536];
	size_t len;
};

void gt_begin(struct gtline *l, const char *ev);
void gt_u64(struct gtline *l, const char *key, u64 v);
void gt_str(struct gtline *l, const char *key, const char *s);
void gt_end(struct gtline *l);

void gtlog_boot(const char *cmdline);
void gtlog_syscall_entry(int pid, const struct pt_regs *regs, int nr);
void gtlog_syscall_exit(int pid, int nr, long ret);
void gtlog_msr_write(u32 msr, u64 value, u64 old);
void gtlog_segbase(const char *which, u64 old, u64 new_value, const char *cause, int pid);
void gtlog_process_start(int pid, const char *path, u64 entry, u64 sp);
void gtlog_process_exit(int pid, int status, int signal);
void gtlog_fault(int pid, int vector, const char *name, u64 error_code, u64 rip, u64 cr2);
void gtlog_context_switch(int from, int to);
void gtlog_poweroff(int code);
void gtlog_panic(const char *msg);

#endif
