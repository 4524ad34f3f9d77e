/*
 * kernel_main: from the multiboot hand-off to the first user program. Not instrumented
 * (Makefile NOTRACE_SRCS): early boot runs before the per-CPU area the ftrace hook needs.
 */
#include "arch.h"
#include "boot.h"
#include "console.h"
#include "cpu.h"
#include "ftrace.h"
#include "gtlog.h"
#include "mm.h"
#include "random.h"
#include "smp.h"
#include "string.h"
#include "task.h"
#include "time.h"
#include "tls.h"

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2badb002

struct multiboot_info {
	u32 flags;
	u32 mem_lower, mem_upper;
	u32 boot_device;
	u32 cmdline;
	u32 mods_count, mods_addr;
	u32 syms[4];
	u32 mmap_length, mmap_addr;
} __packed;

struct multiboot_mod {
	u32 mod_start, mod_end;
	u32 string;
	u32 reserved;
} __packed;

struct boot_params boot_params = {
	.tls = TLS_LINUX,
	.kthread = -1,
	.ftrace_entries = FTRACE_RING_DEFAULT_ENTRIES,
};
enum tls_scheme tls_scheme = TLS_LINUX;
char boot_cmdline[1024];
struct boot_module boot_modules[MAX_BOOT_MODULES];
int nr_boot_modules;

extern char _end[];

static bool flag_value(const char *value)
{
	return strcmp(value, "0") != 0;
}

/* ADDR[,ADDR...] (function addresses, 0x...) into one of the ftrace filter lists. */
static void parse_func_list(const char *value, unsigned long *funcs, volatile int *count)
{
	char addr[24];
	int n = 0;
	while (*value && n < FTRACE_MAX_FUNCS) {
		size_t len = 0;
		while (value[len] && value[len] != ',')
			len++;
		u64 v;
		if (len < sizeof(addr)) {
			memcpy(addr, value, len);
			addr[len] = 0;
			if (parse_u64(addr, &v))
				funcs[n++] = v;
		}
		value += len + (value[len] == ',');
	}
	*count = n;
}

static void parse_option(const char *key, const char *value)
{
	u64 n;
	if (!strcmp(key, "sched")) {
		boot_params.sched_parallel = !strcmp(value, "parallel");
	} else if (!strcmp(key, "kthread")) {
		boot_params.kthread = flag_value(value);
	} else if (!strcmp(key, "lazymm")) {
		boot_params.lazymm = flag_value(value);
	} else if (!strcmp(key, "wrfsbase")) {
		boot_params.wrfsbase = flag_value(value);
	} else if (!strcmp(key, "ftrace")) {
		boot_params.ftrace = flag_value(value);
	} else if (!strcmp(key, "ftrace_dump")) {
		boot_params.ftrace_dump = flag_value(value);
	} else if (!strcmp(key, "ftrace_graph")) {
		parse_func_list(value, ftrace_graph_funcs, &ftrace_graph_count);
	} else if (!strcmp(key, "ftrace_notrace")) {
		parse_func_list(value, ftrace_notrace_funcs, &ftrace_notrace_count);
	} else if (!strcmp(key, "ftrace_max_depth")) {
		if (parse_u64(value, &n))
			ftrace_max_depth = (int)n;
	} else if (!strcmp(key, "ftrace_entries")) {
		if (parse_u64(value, &n) && n >= 64 && n <= FTRACE_RING_MAX_ENTRIES &&
		    !(n & (n - 1)))
			boot_params.ftrace_entries = n;
	} else if (!strcmp(key, "gtlog")) {
		boot_params.gtlog = strcmp(value, "0") != 0;
		boot_params.gtlog_mem = !strcmp(value, "mem");
	} else if (!strcmp(key, "gtlog_mem_room")) {
		if (parse_u64(value, &n))
			boot_params.gtlog_mem_room = n;
	} else if (!strcmp(key, "verbose")) {
		boot_params.verbose = strcmp(value, "0") != 0;
	} else if (!strcmp(key, "kfault")) {
		boot_params.kfault = strcmp(value, "0") != 0;
	} else if (!strcmp(key, "tls")) {
		for (unsigned i = 0; i <= TLS_BROKEN; i++)
			if (!strcmp(value, tls_scheme_names[i]))
				boot_params.tls = (enum tls_scheme)i;
		tls_scheme = boot_params.tls;
	}
}

/* key=value words; anything else (the kernel's own path comes first) is ignored. */
void parse_cmdline(const char *cmdline)
{
	char word[256];
	const char *p = cmdline;
	while (*p) {
		while (*p == ' ')
			p++;
		size_t n = 0;
		while (p[n] && p[n] != ' ')
			n++;
		if (n && n < sizeof(word)) {
			memcpy(word, p, n);
			word[n] = 0;
			char *eq = strrchr(word, '=');
			if (eq) {
				*eq = 0;
				parse_option(word, eq + 1);
			}
		}
		p += n;
	}
	gtlog_enabled = boot_params.gtlog;
	if (boot_params.gtlog_mem)
		gtlog_mem_start();
}

static u64 read_multiboot(u64 mbi_phys, u64 *mem_end)
{
	const struct multiboot_info *mbi = phys_to_virt(mbi_phys);
	u64 reserved = MAX(virt_to_phys(_end), mbi_phys + sizeof(*mbi));

	if (mbi->flags & (1 << 2)) {
		const char *s = phys_to_virt(mbi->cmdline);
		strlcpy(boot_cmdline, s, sizeof(boot_cmdline));
		reserved = MAX(reserved, mbi->cmdline + strlen(s) + 1);
	}
	parse_cmdline(boot_cmdline);

	*mem_end = (mbi->flags & 1) ? 0x100000 + (u64)mbi->mem_upper * 1024 : 0x4000000;
	if (mbi->flags & (1 << 3)) {
		const struct multiboot_mod *mods = phys_to_virt(mbi->mods_addr);
		reserved = MAX(reserved, mbi->mods_addr + mbi->mods_count * sizeof(*mods));
		for (u32 i = 0; i < mbi->mods_count; i++) {
			reserved = MAX(reserved, mods[i].mod_end);
			if (i >= MAX_BOOT_MODULES) {
				printk("kernel: more than %d programs, ignoring the rest\n",
				       MAX_BOOT_MODULES);
				continue;
			}
			struct boot_module *m = &boot_modules[nr_boot_modules++];
			m->start = mods[i].mod_start;
			m->end = mods[i].mod_end;
			if (mods[i].string) {
				const char *s = phys_to_virt(mods[i].string);
				strlcpy(m->cmdline, s, sizeof(m->cmdline));
				reserved = MAX(reserved, mods[i].string + strlen(s) + 1);
			}
		}
	}
	return reserved;
}

void __noreturn kernel_main(u32 magic, u32 mbi_phys)
{
	u64 mem_end;
	console_init();
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		panic("not booted by a multiboot loader (magic %x)", magic);
	u64 reserved = read_multiboot(mbi_phys, &mem_end);
	gtlog_boot(boot_cmdline);

	cpu_detect();
	pte_nx_bit = boot_cpu.nx ? PTE_NX : 0;
	cpu_init(0);
	percpu_init(0, &cpu0_percpu);
	syscall_init();
	paging_init();
	mem_init(reserved, mem_end);
	tls_init();
	time_init();
	random_init();
	pic_init();
	timer_init(HZ);
	sched_init();
	ftrace_init();
	smp_boot();
	if (boot_params.verbose)
		printk("kernel: %lu MiB free, TSC %lu kHz, %d program(s), tls=%s sched=%s\n",
		       nr_free_pages() >> 8, tsc_khz, nr_boot_modules, tls_scheme_names[tls_scheme],
		       boot_params.sched_parallel ? "parallel" : "sequential");
	if (boot_params.kfault) { /* tests the panic path: a ring-0 page fault */
		volatile int *bad = (volatile int *)0x10;
		__asm__("" : "+r"(bad)); /* hide the constant from -Warray-bounds */
		*bad = 1;
	}
	if (!nr_boot_modules) {
		printk("kernel: no programs to run (pass them as multiboot modules)\n");
		poweroff(EXIT_BAD_PROGRAM);
	}
	cpu_idle_loop();
}
