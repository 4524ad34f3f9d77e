/* Serial console (COM1), kernel messages, panic and power-off. */
#ifndef GUEST_CONSOLE_H
#define GUEST_CONSOLE_H

#include "compiler.h"

/* isa-debug-exit codes; QEMU exits with (code << 1) | 1. */
#define EXIT_ALL_OK 0
#define EXIT_PROCESS_FAILED 1
#define EXIT_PANIC 2
#define EXIT_BAD_PROGRAM 3

void console_init(void);
void console_write(const char *buf, size_t len);
void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void __noreturn panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void __noreturn poweroff(int code);

#endif
