/* CPU-level setup: descriptor tables, TSS, SYSCALL MSRs, interrupt controller. */
#ifndef GUEST_ARCH_H
#define GUEST_ARCH_H

#include "compiler.h"

struct pt_regs;

/* The 64-bit TSS as the hardware defines it. */
struct x86_hw_tss {
	u32 reserved1;
	u64 sp0, sp1, sp2;
	u64 reserved2;
	u64 ist[7];
	u32 reserved3;
	u32 reserved4;
	u16 reserved5;
	u16 io_bitmap_base;
} __packed;

#define IST_INDEX_DF 0
#define IST_INDEX_NMI 1
#define IST_INDEX_MCE 2

extern struct x86_hw_tss cpu_tss;

void cpu_detect(void);
void cpu_init(int cpu); /* this CPU's GDT, TSS, IDT, control registers */
void syscall_init(void);		  /* EFER, STAR, LSTAR, CSTAR, SYSCALL_MASK */
struct percpu;
void percpu_init(int cpu, struct percpu *p); /* GS_BASE = p, KERNEL_GS_BASE = user GS (0) */
void set_kernel_stack(unsigned long top); /* TSS.sp0 and per-CPU top_of_stack */

void pic_init(void);
void timer_init(unsigned hz);

void do_syscall_64(struct pt_regs *regs, int nr);
void do_exception(struct pt_regs *regs, unsigned long vector, unsigned long error_code);
void do_irq(struct pt_regs *regs, unsigned long vector);

#define IRQ0_VECTOR 32

#endif
