#include "console.h"
#include "cpu.h"
#include "ftrace.h"
#include "gtlog.h"
#include "string.h"

#define COM1 0x3f8
#define DEBUG_EXIT_PORT 0xf4

void console_init(void)
{
	outb(COM1 + 1, 0x00); /* no interrupts: output is polled */
	outb(COM1 + 3, 0x80); /* DLAB */
	outb(COM1 + 0, 0x01); /* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8N1 */
	outb(COM1 + 2, 0xc7); /* FIFO on, cleared */
	outb(COM1 + 4, 0x03);
}

static void serial_putc(char c)
{
	/* Wait (boundedly) for the transmit holding register so no byte is dropped. */
	for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
		cpu_relax();
	outb(COM1, c);
}

void console_write(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		serial_putc(buf[i]);
}

void printk(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	console_write(buf, MIN((size_t)n, sizeof(buf) - 1));
}

void __noreturn poweroff(int code)
{
	ftrace_dump_to_gtlog();
	gtlog_poweroff(code);
	outl(DEBUG_EXIT_PORT, code);
	/* Without isa-debug-exit: stop here; -no-reboot makes a triple fault end QEMU otherwise. */
	for (;;)
		__asm__ volatile("cli; hlt");
}

void __noreturn panic(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	cli();
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printk("Kernel panic: %s\n", buf);
	gtlog_panic(buf);
	poweroff(EXIT_PANIC);
}
