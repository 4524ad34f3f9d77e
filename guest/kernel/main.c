/* kernel_main: from the multiboot hand-off to the first user program. */
#include "arch.h"
#include "boot.h"
#include "console.h"
#include "cpu.h"
#include "gtlog.h"
#include "mm.h"
#include "random.h"
#include "string.h"
#include "task.h"
#include "time.h"

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

struct boot_params boot_params = { .tls = TLS_LINUX };
enum tls_scheme tls_scheme = TLS_LINUX;
char boot_cmdline[1024];
struct boot_module boot_modules[MAX_BOOT_MODULES];
int nr_boot_modules;

extern char _end[];

static void parse_option(const char *key, const char *value)
{
	if (!strcmp(key, "gtlog")) {
		boot_params.gtlog = strcmp(value, "0") != 0;
	} else if (!strcmp(key, "verbose")) {
		boot_params.verbose = strcmp(value, "0") != 0;
	} else if (!strcmp(key, "kfault")) {
		boot_params.kfault = strcmp(value, "0") != 0;
	} else if (!strcmp(key, "tls")) {
		static const char *const names[] = { "linux", "osv", "gs", "broken" };
		for (unsigned i = 0; i < ARRAY_SIZE(names); i++)
			if (!strcmp(value, names[i]))
				boot_params.tls = (enum tls_scheme)i;
		tls_scheme = boot_params.tls;
	}
}

/* key=value words; anything else (the kernel's own path comes first) is ignored. */
void parse_cmdline(const char *cmdline)
{
	char word[128];
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
	cpu_init();
	percpu_init();
	syscall_init();
	paging_init();
	mem_init(reserved, mem_end);
	time_init();
	random_init();
	pic_init();
	timer_init(HZ);
	sched_init();
	if (boot_params.verbose)
		printk("kernel: %lu MiB free, TSC %lu kHz, %d program(s), tls=%d\n",
		       nr_free_pages() >> 8, tsc_khz, nr_boot_modules, tls_scheme);
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
