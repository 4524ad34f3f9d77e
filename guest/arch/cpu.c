#include "arch.h"
#include "boot.h"
#include "console.h"
#include "cpu.h"
#include "gtlog.h"
#include "msr.h"
#include "percpu.h"
#include "segment.h"
#include "smp.h"
#include "string.h"
#include "tls.h"

struct cpu_features boot_cpu;
struct percpu cpu0_percpu;
struct x86_hw_tss cpu_tss __aligned(16);
u64 gdt_table[GDT_ENTRIES] __aligned(16);
/* the other CPUs' GDTs and TSSs (index 0 unused: the boot CPU has the two above) */
static struct x86_hw_tss ap_tss[NR_CPUS] __aligned(16);
static u64 ap_gdt_tables[NR_CPUS][GDT_ENTRIES] __aligned(16);

struct idt_gate {
	u16 offset_low;
	u16 segment;
	u8 ist;
	u8 type_attr;
	u16 offset_middle;
	u32 offset_high;
	u32 reserved;
} __packed;

static struct idt_gate idt_table[256] __aligned(16);

static u8 ist_stacks[NR_CPUS][3][4096] __aligned(16);

extern char entry_SYSCALL_64[], entry_SYSCALL_compat[], irq_entries_start[];
extern char asm_exc_divide_error[], asm_exc_debug[], asm_exc_nmi[], asm_exc_int3[],
	asm_exc_overflow[], asm_exc_bounds[], asm_exc_invalid_op[], asm_exc_device_not_available[],
	asm_exc_double_fault[], asm_exc_coproc_segment_overrun[], asm_exc_invalid_tss[],
	asm_exc_segment_not_present[], asm_exc_stack_segment[], asm_exc_general_protection[],
	asm_exc_page_fault[], asm_exc_spurious_interrupt_bug[], asm_exc_coprocessor_error[],
	asm_exc_alignment_check[], asm_exc_machine_check[], asm_exc_simd_coprocessor_error[],
	asm_exc_virtualization_exception[], asm_exc_control_protection[], asm_exc_reserved_22[],
	asm_exc_reserved_23[], asm_exc_reserved_24[], asm_exc_reserved_25[], asm_exc_reserved_26[],
	asm_exc_reserved_27[], asm_exc_hypervisor_injection[], asm_exc_vmm_communication[],
	asm_exc_security_exception[], asm_exc_reserved_31[];

static char *const exception_entries[32] = {
	asm_exc_divide_error,
	asm_exc_debug,
	asm_exc_nmi,
	asm_exc_int3,
	asm_exc_overflow,
	asm_exc_bounds,
	asm_exc_invalid_op,
	asm_exc_device_not_available,
	asm_exc_double_fault,
	asm_exc_coproc_segment_overrun,
	asm_exc_invalid_tss,
	asm_exc_segment_not_present,
	asm_exc_stack_segment,
	asm_exc_general_protection,
	asm_exc_page_fault,
	asm_exc_spurious_interrupt_bug,
	asm_exc_coprocessor_error,
	asm_exc_alignment_check,
	asm_exc_machine_check,
	asm_exc_simd_coprocessor_error,
	asm_exc_virtualization_exception,
	asm_exc_control_protection,
	asm_exc_reserved_22,
	asm_exc_reserved_23,
	asm_exc_reserved_24,
	asm_exc_reserved_25,
	asm_exc_reserved_26,
	asm_exc_reserved_27,
	asm_exc_hypervisor_injection,
	asm_exc_vmm_communication,
	asm_exc_security_exception,
	asm_exc_reserved_31,
};

noinline void wrmsr(u32 msr, u64 val)
{
	u64 old = rdmsr(msr);
	native_wrmsr(msr, val);
	gtlog_msr_write(msr, val, old);
}

void cpu_detect(void)
{
	u32 a, b, c, d, max;
	cpuid(0, 0, &max, &b, &c, &d);
	cpuid(1, 0, &a, &b, &c, &d);
	boot_cpu.hwcap = d;
	boot_cpu.rdrand = c & (1u << 30);
	if (max >= 7) {
		cpuid(7, 0, &a, &b, &c, &d);
		boot_cpu.fsgsbase = b & (1u << 0);
		boot_cpu.smep = b & (1u << 7);
		boot_cpu.smap = b & (1u << 20);
	}
	cpuid(0x80000001, 0, &a, &b, &c, &d);
	boot_cpu.nx = d & (1u << 20);
	if (!(d & (1u << 11)))
		panic("CPU lacks SYSCALL/SYSRET");
}

static void set_gate(int vector, void *handler, int ist, int dpl)
{
	u64 addr = (u64)handler;
	idt_table[vector] = (struct idt_gate){
		.offset_low = addr & 0xffff,
		.segment = __KERNEL_CS,
		.ist = ist,
		.type_attr = 0x8e | (dpl << 5), /* present 64-bit interrupt gate: IF cleared */
		.offset_middle = (addr >> 16) & 0xffff,
		.offset_high = addr >> 32,
	};
}

static u64 *gdt_table_cpu0(void)
{
	return gdt_table;
}

static struct x86_hw_tss *tss_of[NR_CPUS];

/* This CPU's GDT (its own TSS descriptor) and TSS with its own IST stacks. */
static notrace void gdt_init(int cpu)
{
	u64 *gdt_table = cpu ? ap_gdt_tables[cpu] : gdt_table_cpu0();
	struct x86_hw_tss *tss = cpu ? &ap_tss[cpu] : &cpu_tss;
	gdt_table[GDT_ENTRY_KERNEL_CS] = 0x00af9b000000ffffUL;	     /* 64-bit code, DPL 0 */
	gdt_table[GDT_ENTRY_KERNEL_DS] = 0x00cf93000000ffffUL;	     /* data, DPL 0 */
	gdt_table[GDT_ENTRY_DEFAULT_USER_DS] = 0x00cff3000000ffffUL; /* data, DPL 3 */
	gdt_table[GDT_ENTRY_DEFAULT_USER_CS] = 0x00affb000000ffffUL; /* 64-bit code, DPL 3 */
	/* KERNEL32_CS and USER32_CS stay null: nothing here runs in compatibility mode. */
	/* present, DPL 3, data, byte granular, limit = CPU number (node 0): LSL in the vDSO */
	gdt_table[GDT_ENTRY_PER_CPU] = (u64)(cpu & 0xfff) | (0xf3UL << 40);

	u64 base = (u64)tss, limit = sizeof(*tss) - 1;
	gdt_table[GDT_ENTRY_TSS] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89UL << 40) |
				   ((limit >> 16 & 0xf) << 48) | ((base >> 24 & 0xff) << 56);
	gdt_table[GDT_ENTRY_TSS + 1] = base >> 32;

	struct {
		u16 limit;
		u64 base;
	} __packed gdtr = { GDT_ENTRIES * 8 - 1, (u64)gdt_table };
	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "movl %2, %%eax\n\t"
			 "movl %%eax, %%ss\n\t"
			 "xorl %%eax, %%eax\n\t"
			 "movl %%eax, %%ds\n\t"
			 "movl %%eax, %%es\n\t"
			 :
			 : "m"(gdtr), "i"(__KERNEL_CS), "i"(__KERNEL_DS)
			 : "rax", "memory");
	tss->ist[IST_INDEX_DF] = (u64)ist_stacks[cpu][0] + sizeof(ist_stacks[cpu][0]);
	tss->ist[IST_INDEX_NMI] = (u64)ist_stacks[cpu][1] + sizeof(ist_stacks[cpu][1]);
	tss->ist[IST_INDEX_MCE] = (u64)ist_stacks[cpu][2] + sizeof(ist_stacks[cpu][2]);
	tss->io_bitmap_base = sizeof(*tss); /* no I/O bitmap: ring 3 port I/O faults */
	tss_of[cpu] = tss;
	__asm__ volatile("ltr %w0" ::"r"(GDT_TSS_SEL));
	/*
	 * Null FS and GS selectors. The boot CPU's are still the boot GDT's; an AP's are null
	 * already and must not be reloaded: that would clear the GS_BASE its trampoline set.
	 */
	if (cpu == 0)
		__asm__ volatile("movl %0, %%fs\n\tmovl %0, %%gs" ::"r"(0));
}

static void idt_init(void)
{
	for (int v = 0; v < 32; v++)
		set_gate(v, exception_entries[v], 0, 0);
	set_gate(2, asm_exc_nmi, IST_INDEX_NMI + 1, 0);
	set_gate(8, asm_exc_double_fault, IST_INDEX_DF + 1, 0);
	set_gate(18, asm_exc_machine_check, IST_INDEX_MCE + 1, 0);
	/* int3 and into may be used from ring 3 (they end the process with SIGTRAP/SIGSEGV). */
	set_gate(3, asm_exc_int3, 0, 3);
	set_gate(4, asm_exc_overflow, 0, 3);
	for (int v = 32; v < 256; v++)
		set_gate(v, irq_entries_start + 16 * (v - 32), 0, 0);
}

static notrace void idt_load(void)
{
	struct {
		u16 limit;
		u64 base;
	} __packed idtr = { sizeof(idt_table) - 1, (u64)idt_table };
	__asm__ volatile("lidt %0" ::"m"(idtr));
}

/* GDT, TSS, IDT and control registers of this CPU (the boot CPU builds the shared IDT). */
notrace void cpu_init(int cpu)
{
	gdt_init(cpu);
	if (cpu == 0)
		idt_init();
	idt_load();

	unsigned long cr0;
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	cr0 |= (1UL << 1) | (1UL << 5) | (1UL << 16); /* MP, NE, WP */
	cr0 &= ~((1UL << 2) | (1UL << 3));	      /* EM, TS: user code uses SSE */
	__asm__ volatile("mov %0, %%cr0" ::"r"(cr0));

	unsigned long cr4 =
		read_cr4() | X86_CR4_PGE | X86_CR4_OSFXSR | (1UL << 10) /* OSXMMEXCPT */;
	if (boot_cpu.fsgsbase)
		cr4 |= X86_CR4_FSGSBASE;
	/* The kernel reaches user memory only through the direct map, so SMEP/SMAP cost nothing. */
	if (boot_cpu.smep)
		cr4 |= X86_CR4_SMEP;
	boot_cpu.smap_on = boot_cpu.smap && tls_scheme != TLS_BROKEN;
	if (boot_cpu.smap_on)
		cr4 |= X86_CR4_SMAP;
	write_cr4(cr4);
	__asm__ volatile("fninit");
}

void syscall_init(void)
{
	u64 efer = rdmsr(MSR_EFER) | EFER_SCE;
	if (boot_cpu.nx)
		efer |= EFER_NX;
	wrmsr(MSR_EFER, efer);
	wrmsr(MSR_STAR, ((u64)__USER32_CS << 48) | ((u64)__KERNEL_CS << 32));
	wrmsr(MSR_LSTAR, (u64)entry_SYSCALL_64);
	wrmsr(MSR_CSTAR, (u64)entry_SYSCALL_compat);
	wrmsr(MSR_SYSCALL_MASK, X86_EFLAGS_CF | X86_EFLAGS_PF | X86_EFLAGS_AF | X86_EFLAGS_ZF |
					X86_EFLAGS_SF | X86_EFLAGS_TF | X86_EFLAGS_IF |
					X86_EFLAGS_DF | X86_EFLAGS_OF | X86_EFLAGS_IOPL |
					X86_EFLAGS_NT | X86_EFLAGS_RF | X86_EFLAGS_AC |
					X86_EFLAGS_ID);
}

/* This CPU's per-CPU area: GS_BASE points at it from now on. */
void percpu_init(int cpu, struct percpu *p)
{
	p->self = p;
	p->cpu = cpu;
	p->tss = tss_of[cpu];
	percpu_of[cpu] = p;
	set_segbase_msr(MSR_GS_BASE, (u64)p, TLS_CAUSE_BOOT);
	percpu_ready = true;
	set_segbase_msr(MSR_KERNEL_GS_BASE, 0, TLS_CAUSE_BOOT);
	set_segbase_msr(MSR_FS_BASE, 0, TLS_CAUSE_BOOT);
}

void set_kernel_stack(unsigned long top)
{
	struct percpu *p = this_cpu();
	p->tss->sp0 = top;
	p->top_of_stack = top;
}

_Static_assert(__builtin_offsetof(struct percpu, self) == PERCPU_self, "percpu layout");
_Static_assert(__builtin_offsetof(struct percpu, user_rsp_scratch) == PERCPU_user_rsp_scratch,
	       "percpu layout");
_Static_assert(__builtin_offsetof(struct percpu, top_of_stack) == PERCPU_top_of_stack,
	       "percpu layout");
_Static_assert(__builtin_offsetof(struct percpu, cpu) == PERCPU_cpu, "percpu layout");
_Static_assert(__builtin_offsetof(struct percpu, current_task) == PERCPU_current_task,
	       "percpu layout");
_Static_assert(__builtin_offsetof(struct percpu, irq_count) == PERCPU_irq_count, "percpu layout");
_Static_assert(__builtin_offsetof(struct percpu, fs_base_loaded) == PERCPU_fs_base_loaded,
	       "percpu layout");
_Static_assert(__builtin_offsetof(struct percpu, kernel_tcb) == PERCPU_kernel_tcb, "percpu layout");
_Static_assert(__builtin_offsetof(struct percpu, ftrace_ring) == PERCPU_ftrace_ring,
	       "percpu layout");
_Static_assert(sizeof(struct x86_hw_tss) == 104, "TSS layout");
bool percpu_ready;
