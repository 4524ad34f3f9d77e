/* What the boot loader handed us: the command line and the programs (multiboot modules). */
#ifndef GUEST_BOOT_H
#define GUEST_BOOT_H

#include "compiler.h"

#define MAX_BOOT_MODULES 16

struct boot_module {
	u64 start, end;	   /* physical */
	char cmdline[512]; /* "path arg1 arg2 ..." */
};

/* tls= on the command line; include/tls.h says what each one does. */
enum tls_scheme {
	TLS_LINUX, /* per-CPU data through GS + swapgs; the kernel never touches user FS */
	TLS_OSV,   /* kernel __thread on FS, switched to the kernel TCB on entry and back on exit */
	TLS_GS,	   /* kernel thread-locals through GS (per-CPU pointer); FS never switched */
	TLS_BROKEN, /* osv without the entry/exit switch: the kernel runs on the app's TCB */
};

struct boot_params {
	bool gtlog;
	bool gtlog_mem;     /* gtlog=mem: the log in guest RAM (gtlog_mem), the port only past it */
	unsigned long gtlog_mem_room; /* gtlog_mem_room=N: use only N bytes of it (tests the port) */
	bool verbose;
	bool kfault;	     /* fault in the kernel on purpose once booted (to test panics) */
	bool sched_parallel; /* sched=parallel: start every program at once, interleaved */
	int kthread;	     /* kthread=0|1: start the ktickd kernel thread (-1: with parallel) */
	bool lazymm;	     /* lazymm=1: brk and anonymous mmap pages appear on first touch */
	bool wrfsbase;	     /* wrfsbase=1: write FS with wrfsbase when the CPU has it */
	bool ftrace;	     /* ftrace=1: function graph tracing on from boot */
	bool ftrace_dump;    /* ftrace_dump=1: ring buffer to the ground-truth log at power-off */
	unsigned long ftrace_entries; /* ftrace_entries=N: ring size (power of two) */
	enum tls_scheme tls;
};

extern struct boot_params boot_params;
extern enum tls_scheme tls_scheme;
extern char boot_cmdline[1024];
extern struct boot_module boot_modules[MAX_BOOT_MODULES];
extern int nr_boot_modules;

void parse_cmdline(const char *cmdline);

#endif
