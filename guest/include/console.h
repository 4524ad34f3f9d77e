/* Serial console (COM1), kernel messages, panic and power-off. */
#ifndef GUEST_CONSOLE_H
#define GUEST_CONSOLE_H

#include "compiler.h"

/* isa-debug-exit codes; QEMU exits with (code << 1) | 1. */
#define EXIT_ALL_OK 0
#define EXIT_PROCESS_FAILED 1
#define EXIT_PANIC 2
#define EXIT_BAD_PROGRAM 3

/*
 * Each program's exit status, for the host (qemu/boot) and a debugger: one JSON line per
 * process exit on the exit-status port (an isa-debugcon when the host attaches one; a write
 * to an unassigned port is ignored), and the same record in program_exits[] (DWARF-typed).
 */
#define EXIT_STATUS_PORT 0x4f4
struct program_exit {
	int pid;
	int status; /* 0..255, 128 + signal when killed */
	int signal;
};
extern struct program_exit program_exits[];
extern int nr_program_exits;
void report_program_exit(int pid, const char *path, int status, int signal);

void console_init(void);
void console_write(const char *buf, size_t len);
void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void __noreturn panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void __noreturn poweroff(int code);

#endif
