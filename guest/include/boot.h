/* What the boot loader handed us: the command line and the programs (multiboot modules). */
#ifndef GUEST_BOOT_H
#define GUEST_BOOT_H

#include "compiler.h"

#define MAX_BOOT_MODULES 16

struct boot_module {
	u64 start, end;	   /* physical */
	char cmdline[512]; /* "path arg1 arg2 ..." */
};

enum tls_scheme {
	TLS_LINUX,  /* per-CPU data through GS + swapgs; the kernel never touches user FS */
	TLS_OSV,    /* reserved: kernel __thread on FS, switched on entry/exit */
	TLS_GS,	    /* reserved: kernel thread-locals through GS only */
	TLS_BROKEN, /* reserved: osv without the switch */
};

struct boot_params {
	bool gtlog;
	bool verbose;
	bool kfault; /* fault in the kernel on purpose once booted (to test panics) */
	enum tls_scheme tls;
};

extern struct boot_params boot_params;
extern enum tls_scheme tls_scheme;
extern char boot_cmdline[1024];
extern struct boot_module boot_modules[MAX_BOOT_MODULES];
extern int nr_boot_modules;

void parse_cmdline(const char *cmdline);

#endif
