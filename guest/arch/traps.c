/* Exceptions and interrupts: a fault in ring 3 ends the process, in ring 0 it is a panic. */
#include "arch.h"
#include "console.h"
#include "cpu.h"
#include "gtlog.h"
#include "mm.h"
#include "msr.h"
#include "ptrace.h"
#include "segment.h"
#include "smp.h"
#include "task.h"
#include "time.h"
#include "tls.h"
#include "uapi.h"

static const struct {
	const char *name;
	int signal;
} exceptions[32] = {
	[0] = { "#DE", SIGFPE },   [1] = { "#DB", SIGTRAP },  [2] = { "NMI", SIGSEGV },
	[3] = { "#BP", SIGTRAP },  [4] = { "#OF", SIGSEGV },  [5] = { "#BR", SIGSEGV },
	[6] = { "#UD", SIGILL },   [7] = { "#NM", SIGSEGV },  [8] = { "#DF", SIGSEGV },
	[9] = { "#CSO", SIGFPE },  [10] = { "#TS", SIGSEGV }, [11] = { "#NP", SIGBUS },
	[12] = { "#SS", SIGBUS },  [13] = { "#GP", SIGSEGV }, [14] = { "#PF", SIGSEGV },
	[15] = { "#15", SIGSEGV }, [16] = { "#MF", SIGFPE },  [17] = { "#AC", SIGBUS },
	[18] = { "#MC", SIGBUS },  [19] = { "#XM", SIGFPE },  [20] = { "#VE", SIGSEGV },
	[21] = { "#CP", SIGSEGV }, [22] = { "#22", SIGSEGV }, [23] = { "#23", SIGSEGV },
	[24] = { "#24", SIGSEGV }, [25] = { "#25", SIGSEGV }, [26] = { "#26", SIGSEGV },
	[27] = { "#27", SIGSEGV }, [28] = { "#HV", SIGSEGV }, [29] = { "#VC", SIGSEGV },
	[30] = { "#SX", SIGSEGV }, [31] = { "#31", SIGSEGV },
};

extern struct percpu cpu0_percpu;

static int safe_pid(void)
{
	/* GS may not point at the per-CPU area if we faulted in the middle of an entry. */
	struct percpu *p = percpu_from_gs_base();
	if (!p || !p->current_task)
		return -1;
	return p->current_task->tgid;
}

static void show_regs(const struct pt_regs *r)
{
	printk("RIP: %04lx:%016lx RSP: %04lx:%016lx RFLAGS: %08lx\n", r->cs, r->ip, r->ss, r->sp,
	       r->flags);
	printk("RAX: %016lx RBX: %016lx RCX: %016lx\n", r->ax, r->bx, r->cx);
	printk("RDX: %016lx RSI: %016lx RDI: %016lx\n", r->dx, r->si, r->di);
	printk("RBP: %016lx R08: %016lx R09: %016lx\n", r->bp, r->r8, r->r9);
	printk("R10: %016lx R11: %016lx R12: %016lx\n", r->r10, r->r11, r->r12);
	printk("R13: %016lx R14: %016lx R15: %016lx\n", r->r13, r->r14, r->r15);
	printk("CR2: %016lx CR3: %016lx GS_BASE: %016lx KERNEL_GS_BASE: %016lx\n", read_cr2(),
	       read_cr3(), rdmsr(MSR_GS_BASE), rdmsr(MSR_KERNEL_GS_BASE));
}

void do_exception(struct pt_regs *regs, unsigned long vector, unsigned long error_code)
{
	unsigned long cr2 = vector == 14 ? read_cr2() : 0;
	kernel_lock();
	const char *name = exceptions[vector & 31].name;
	int ring = regs->cs & 3;

	gtlog_exception("exception_entry", vector, name, error_code, cr2, ring, regs->ip,
			safe_pid());
	if (vector == 2 && !user_mode(regs)) {
		printk("kernel: NMI received, ignored\n");
		goto out;
	}
	if (user_mode(regs)) {
		struct task *t = current;
		this_thread_add(tls_exception_count, 1);
		/* Not present: the stack grows, a lazily mapped page (lazymm=1) appears. */
		if (vector == 14 && !(error_code & 1) && mm_fault_in(t->mm, cr2)) {
			exit_to_user_mode(regs);
			goto out;
		}
		int sig = exceptions[vector].signal;
		gtlog_fault(t->tgid, vector, name, error_code, regs->ip, cr2);
		if (error_code == -1UL)
			printk("%s: killed by %s at rip=0x%lx (pid %d)\n", t->comm, name, regs->ip,
			       t->tgid);
		else
			printk("%s: killed by %s at rip=0x%lx cr2=0x%lx error_code=0x%lx (pid "
			       "%d)\n",
			       t->comm, name, regs->ip, cr2, error_code, t->tgid);
		do_group_exit(128 + sig, sig); /* a fatal signal ends every thread */
	}
	if ((vector == 14 || vector == 13) && tls_fs0_fault_fixup(regs))
		goto out;
	gtlog_fault(safe_pid(), vector, name, error_code, regs->ip, cr2);
	printk("kernel: %s in kernel mode, error_code=0x%lx\n", name, error_code);
	show_regs(regs);
	panic("unexpected %s in the kernel at rip=0x%lx cr2=0x%lx", name, regs->ip, cr2);
out:
	gtlog_exception("exception_exit", vector, name, error_code, cr2, ring, regs->ip,
			safe_pid());
	kernel_unlock();
}

#define PIC1 0x20
#define PIC2 0xa0

void pic_init(void)
{
	outb(PIC1, 0x11); /* ICW1: init, ICW4 needed */
	outb(PIC2, 0x11);
	outb(PIC1 + 1, IRQ0_VECTOR); /* ICW2: vector offsets */
	outb(PIC2 + 1, IRQ0_VECTOR + 8);
	outb(PIC1 + 1, 0x04); /* ICW3: slave on IRQ2 */
	outb(PIC2 + 1, 0x02);
	outb(PIC1 + 1, 0x01); /* ICW4: 8086 mode */
	outb(PIC2 + 1, 0x01);
	outb(PIC1 + 1, 0xfe); /* only IRQ0 (the PIT) */
	outb(PIC2 + 1, 0xff);
}

void timer_init(unsigned hz)
{
	u32 divisor = 1193182 / hz;
	outb(0x43, 0x34); /* channel 0, lo/hi byte, rate generator */
	outb(0x40, divisor & 0xff);
	outb(0x40, divisor >> 8);
}

static bool pic_spurious(unsigned irq)
{
	u16 port = irq < 8 ? PIC1 : PIC2;
	outb(port, 0x0b); /* read ISR */
	bool real = inb(port) & (1 << (irq & 7));
	if (!real && irq == 15)
		outb(PIC1, 0x20); /* the master did see the cascade */
	return !real;
}

static void timer_interrupt(void)
{
	jiffies++;
	wake_sleepers();
	scheduler_tick();
}

void tlb_ipi(void);

void do_irq(struct pt_regs *regs, unsigned long vector)
{
	int ring = regs->cs & 3;
	gtlog_irq("irq_entry", vector, ring, regs->ip, current->tgid);
	this_cpu()->irq_count++;
	if (vector == TLB_VECTOR) { /* its sender holds the kernel lock and waits for us */
		tlb_ipi();
		gtlog_irq("irq_exit", vector, ring, regs->ip, current->tgid);
		return;
	}
	kernel_lock();
	this_thread_add(tls_irq_count, 1);
	if (vector == LAPIC_TIMER_VECTOR) {
		lapic_timer_interrupt();
	} else if (vector == RESCHED_VECTOR) {
		lapic_eoi(); /* an idle CPU woken to look for work */
		if (!is_idle_task(current))
			current->need_resched = true;
	} else if (vector == SPURIOUS_VECTOR) {
		/* no EOI for the local APIC's spurious vector */
	} else if (vector >= IRQ0_VECTOR && vector < IRQ0_VECTOR + 16) {
		unsigned irq = vector - IRQ0_VECTOR;
		if ((irq == 7 || irq == 15) && pic_spurious(irq))
			goto out;
		if (irq >= 8)
			outb(PIC2, 0x20);
		outb(PIC1, 0x20);
		if (irq == 0)
			timer_interrupt();
	} else {
		printk("kernel: unexpected interrupt vector %lu\n", vector);
	}
out:
	if (user_mode(regs))
		exit_to_user_mode(regs);
	else if ((regs->flags & X86_EFLAGS_IF) && !is_idle_task(current))
		preempt_schedule_irq(); /* a kernel thread working with interrupts on */
	gtlog_irq("irq_exit", vector, ring, regs->ip, current->tgid);
	kernel_unlock();
}
