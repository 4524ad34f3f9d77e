/*
 * Several CPUs: the local APIC (timer, IPIs), AP start-up (INIT-SIPI-SIPI into
 * arch/trampoline.S), the kernel lock and TLB shootdown. Not instrumented (Makefile
 * NOTRACE_SRCS): the lock runs on every entry, and an AP runs code here before its per-CPU
 * area exists.
 */
#include "arch.h"
#include "boot.h"
#include "console.h"
#include "cpu.h"
#include "ftrace.h"
#include "mm.h"
#include "msr.h"
#include "smp.h"
#include "string.h"
#include "task.h"
#include "time.h"
#include "tls.h"

#define LAPIC_PHYS 0xfee00000UL
#define LAPIC_ID 0x20
#define LAPIC_TPR 0x80
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0
#define ICR_INIT 0x00004500
#define ICR_STARTUP 0x00004600
#define ICR_BUSY (1 << 12)
#define LVT_PERIODIC (1 << 17)
#define LVT_MASKED (1 << 16)

#define FW_CFG_PORT_SEL 0x510
#define FW_CFG_PORT_DATA 0x511
#define FW_CFG_NB_CPUS 0x05

extern char trampoline_start[], trampoline_end[], tr_cr3[], tr_efer[], tr_stack[], tr_entry[],
	tr_gsbase[];
extern char ap_startup_64[], boot_pml4[];

int nr_cpus = 1;
struct percpu *percpu_of[NR_CPUS] = { &cpu0_percpu };
u8 apic_id_of[NR_CPUS];
static struct percpu ap_percpu[NR_CPUS];
static struct task ap_idle_tasks[NR_CPUS];
static volatile u32 *lapic;
static u32 lapic_timer_count; /* LAPIC timer ticks per scheduler tick (divide by 16) */
static volatile int ap_booting_cpu, ap_started;

static u32 lapic_read(u32 reg)
{
	return lapic[reg / 4];
}

static void lapic_write(u32 reg, u32 v)
{
	lapic[reg / 4] = v;
}

void lapic_eoi(void)
{
	if (lapic)
		lapic_write(LAPIC_EOI, 0);
}

static void lapic_enable(void)
{
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, 0x100 | SPURIOUS_VECTOR);
}

static void lapic_timer_start(void)
{
	lapic_write(LAPIC_TIMER_DIV, 0x3); /* divide by 16 */
	lapic_write(LAPIC_LVT_TIMER, LAPIC_TIMER_VECTOR | LVT_PERIODIC);
	lapic_write(LAPIC_TIMER_INIT, lapic_timer_count);
}

/* Count LAPIC timer ticks over one scheduler tick, measured with the TSC. */
static __wait_text void lapic_timer_calibrate(void)
{
	lapic_write(LAPIC_TIMER_DIV, 0x3);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
	lapic_write(LAPIC_TIMER_INIT, 0xffffffff);
	u64 t0 = rdtsc(), span = tsc_khz * 1000 / HZ;
	while (rdtsc() - t0 < span)
		delay_relax();
	u32 count = 0xffffffff - lapic_read(LAPIC_TIMER_CUR);
	lapic_write(LAPIC_TIMER_INIT, 0);
	lapic_timer_count = count ? count : 100000;
}

static void send_ipi(int cpu, u32 icr)
{
	while (lapic_read(LAPIC_ICR_LO) & ICR_BUSY)
		cpu_relax();
	lapic_write(LAPIC_ICR_HI, (u32)apic_id_of[cpu] << 24);
	lapic_write(LAPIC_ICR_LO, icr);
}

static __wait_text void udelay(u64 us)
{
	u64 t0 = rdtsc(), span = tsc_khz * us / 1000;
	while (rdtsc() - t0 < span)
		delay_relax();
}

/* --- the kernel lock ----------------------------------------------------------------------- */

static volatile int kernel_lock_owner = -1;
static int kernel_lock_held; /* depth, valid on the owner */

static void tlb_flush_if_pending(void)
{
	struct percpu *p = this_cpu();
	if (p->tlb_flush_pending) {
		write_cr3(read_cr3());
		p->tlb_flush_pending = 0;
	}
}

void kernel_lock(void)
{
	if (nr_cpus == 1)
		return; /* one CPU: interrupts are off in the kernel, that is the lock */
	int cpu = this_cpu_id();
	if (kernel_lock_owner == cpu) {
		kernel_lock_held++;
		return;
	}
	while (!__sync_bool_compare_and_swap(&kernel_lock_owner, -1, cpu)) {
		cpu_relax();
		tlb_flush_if_pending(); /* the holder may be waiting for us to flush */
	}
	kernel_lock_held = 1;
}

void kernel_unlock(void)
{
	if (nr_cpus == 1)
		return;
	if (--kernel_lock_held == 0)
		__atomic_store_n(&kernel_lock_owner, -1, __ATOMIC_RELEASE);
}

int kernel_lock_depth(void)
{
	return kernel_lock_owner == this_cpu_id() ? kernel_lock_held : 0;
}

void kernel_lock_set_depth(int depth)
{
	kernel_lock_held = depth;
}

unsigned long spin_lock_irqsave(spinlock_t *lock)
{
	unsigned long flags;
	__asm__ volatile("pushfq; popq %0; cli" : "=r"(flags)::"memory");
	while (__sync_lock_test_and_set(&lock->locked, 1))
		cpu_relax();
	return flags;
}

void spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags)
{
	__sync_lock_release(&lock->locked);
	__asm__ volatile("pushq %0; popfq" ::"r"(flags) : "memory", "cc");
}

/* --- TLB shootdown and IPIs ---------------------------------------------------------------- */

/* Called with the kernel lock held: no CPU can switch address spaces meanwhile. */
void tlb_shootdown(struct mm *mm)
{
	bool waiting[NR_CPUS] = { 0 };
	if (nr_cpus == 1)
		return;
	int me = this_cpu_id();
	for (int c = 0; c < nr_cpus; c++) {
		struct percpu *p = percpu_of[c];
		if (c == me || !p || !p->current_task || p->current_task->mm != mm)
			continue;
		p->tlb_flush_pending = 1;
		send_ipi(c, TLB_VECTOR);
		waiting[c] = true;
	}
	for (int c = 0; c < nr_cpus; c++)
		while (waiting[c] && percpu_of[c]->tlb_flush_pending)
			cpu_relax();
}

/* The TLB IPI: runs without the kernel lock (its sender holds it and waits for us). */
void tlb_ipi(void)
{
	tlb_flush_if_pending();
	lapic_eoi();
}

void kick_idle_cpu(void)
{
	int me = this_cpu_id();
	for (int c = 0; c < nr_cpus; c++) {
		struct percpu *p = percpu_of[c];
		if (c != me && p && p->current_task == p->idle) {
			send_ipi(c, RESCHED_VECTOR);
			return;
		}
	}
}

/* --- application processors ---------------------------------------------------------------- */

static int fw_cfg_nb_cpus(void)
{
	outw(FW_CFG_PORT_SEL, FW_CFG_NB_CPUS);
	int lo = inb(FW_CFG_PORT_DATA), hi = inb(FW_CFG_PORT_DATA);
	return lo | hi << 8;
}

static void *trampoline_var(char *sym)
{
	return (char *)phys_to_virt(TRAMPOLINE_PHYS) + (sym - trampoline_start);
}

/* Everything an AP needs before its first instruction of C: idle task, per-CPU area, ring. */
static bool ap_prepare(int cpu)
{
	struct task *idle = &ap_idle_tasks[cpu];
	unsigned long stack = kstack_alloc();
	if (!stack || task_alloc_thread_state(idle) || ftrace_init_cpu(cpu))
		return false;
	idle->pid = idle->tgid = 0;
	idle->state = TASK_RUNNING;
	idle->flags = PF_KTHREAD;
	idle->on_cpu = true;
	idle->cpus_allowed = 1UL << cpu;
	snprintf(idle->comm, sizeof(idle->comm), "swapper/%d", cpu);
	idle->kstack = stack;
	idle->kstack_top = stack + KSTACK_SIZE;
	struct percpu *p = &ap_percpu[cpu];
	p->self = p;
	p->cpu = cpu;
	p->current_task = p->idle = idle;
	p->kernel_tcb = idle->kernel_tcb;
	p->ftrace_ring = &ftrace_rings[cpu];
	*(u64 *)trampoline_var(tr_stack) = idle->kstack_top;
	*(u64 *)trampoline_var(tr_gsbase) = (u64)p;
	return true;
}

static __wait_text void wait_ap_started(u64 span)
{
	for (u64 t0 = rdtsc(); !ap_started && rdtsc() - t0 < span;)
		delay_relax();
}

static bool ap_start(int cpu, u8 apic_id)
{
	apic_id_of[cpu] = apic_id;
	ap_booting_cpu = cpu;
	ap_started = 0;
	nr_cpus = cpu + 1; /* its log lines name it from its first one */
	send_ipi(cpu, ICR_INIT);
	udelay(10000);
	for (int i = 0; i < 2 && !ap_started; i++) {
		send_ipi(cpu, ICR_STARTUP | (TRAMPOLINE_PHYS >> 12));
		udelay(200);
	}
	wait_ap_started(tsc_khz * 1000);
	if (!ap_started)
		nr_cpus = cpu;
	return ap_started;
}

/* The boot CPU: find how many CPUs QEMU has (fw_cfg) and start them one by one. */
void smp_boot(void)
{
	int want = fw_cfg_nb_cpus();
	lapic = phys_to_virt(LAPIC_PHYS);
	u8 bsp_id = lapic_read(LAPIC_ID) >> 24;
	apic_id_of[0] = bsp_id;
	cpu0_percpu.idle = &idle_task;
	if (want <= 1)
		return;
	if (want > NR_CPUS) {
		printk("kernel: %d CPUs, using %d\n", want, NR_CPUS);
		want = NR_CPUS;
	}
	lapic_enable();
	lapic_timer_calibrate();
	memcpy(phys_to_virt(TRAMPOLINE_PHYS), trampoline_start, trampoline_end - trampoline_start);
	*(u64 *)trampoline_var(tr_cr3) = (u64)boot_pml4;
	*(u64 *)trampoline_var(tr_efer) = rdmsr(MSR_EFER) | EFER_LME;
	*(u64 *)trampoline_var(tr_entry) = (u64)ap_startup_64;
	/* QEMU numbers the local APICs 0..N-1 (the boot CPU is one of them) */
	for (int id = 0, cpu = 1; cpu < want && id < 255; id++) {
		if (id == bsp_id)
			continue;
		if (!ap_prepare(cpu) || !ap_start(cpu, id)) {
			printk("kernel: CPU %d (APIC id %d) did not start\n", cpu, id);
			break;
		}
		cpu++;
	}
	if (boot_params.verbose)
		printk("kernel: %d CPUs up\n", nr_cpus);
}

/* An AP's first C code, on its idle task's stack, with the boot page tables. */
void __noreturn ap_main(void)
{
	int cpu = ap_booting_cpu;
	struct percpu *p = &ap_percpu[cpu];
	cpu_init(cpu); /* GS_BASE (set by the trampoline) is kept: no selector reload */
	mm_activate(NULL);
	kernel_lock();
	percpu_init(cpu, p); /* GS_BASE again, logged; KERNEL_GS_BASE, FS_BASE */
	syscall_init();
	if (tls_kernel_uses_fs)
		set_fs_base(p->idle->kernel_tcb, TLS_CAUSE_BOOT);
	__asm__ volatile("fninit");
	u32 mxcsr = 0x1f80;
	__asm__ volatile("ldmxcsr %0" ::"m"(mxcsr));
	lapic_enable();
	lapic_timer_start();
	task_list_add(p->idle);
	ap_started = 1;
	ap_idle_loop();
}

void lapic_timer_interrupt(void)
{
	lapic_eoi();
	wake_sleepers();
	scheduler_tick();
}

struct percpu *percpu_from_gs_base(void)
{
	if (!percpu_ready)
		return NULL;
	if (nr_cpus == 1) /* whatever GS holds now, the only area is CPU 0's */
		return &cpu0_percpu;
	u64 gs = rdmsr(MSR_GS_BASE);
	for (int i = 0; i < nr_cpus; i++)
		if (percpu_of[i] && gs == (u64)percpu_of[i])
			return percpu_of[i];
	return NULL;
}

int cpu_from_apic_id(void)
{
	u32 a, b, c, d;
	if (nr_cpus == 1)
		return 0;
	cpuid(1, 0, &a, &b, &c, &d);
	u8 id = b >> 24;
	for (int i = 0; i < nr_cpus; i++)
		if (apic_id_of[i] == id)
			return i;
	return 0;
}
