#include "console.h"
#include "boot.h"
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

struct program_exit program_exits[MAX_BOOT_MODULES];
int nr_program_exits;

/* Not the ground-truth log: this line is always written (qemu/boot's exit status needs it). */
static void status_line(struct gtline *l)
{
	gt_end_to(l, EXIT_STATUS_PORT);
}

void report_program_exit(int pid, const char *path, int status, int signal)
{
	struct gtline l;
	if (nr_program_exits < MAX_BOOT_MODULES)
		program_exits[nr_program_exits++] = (struct program_exit){ pid, status, signal };
	gt_begin(&l, "program_exit");
	gt_u64(&l, "pid", pid);
	gt_str(&l, "path", path);
	gt_u64(&l, "status", (u32)status);
	gt_u64(&l, "signal", (u32)signal);
	status_line(&l);
}

void __noreturn poweroff(int code)
{
	struct gtline l;
	ftrace_dump_to_gtlog();
	gtlog_poweroff(code);
	gt_begin(&l, "poweroff");
	gt_u64(&l, "code", code);
	status_line(&l);
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
