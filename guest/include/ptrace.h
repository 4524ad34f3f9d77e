/* struct pt_regs: the frame entry code builds on the kernel stack, in Linux's x86-64 layout. */
#ifndef GUEST_PTRACE_H
#define GUEST_PTRACE_H

/* Byte offsets for assembly; checked against the struct below. */
#define PTREGS_R15 0
#define PTREGS_R14 8
#define PTREGS_R13 16
#define PTREGS_R12 24
#define PTREGS_BP 32
#define PTREGS_BX 40
#define PTREGS_R11 48
#define PTREGS_R10 56
#define PTREGS_R9 64
#define PTREGS_R8 72
#define PTREGS_AX 80
#define PTREGS_CX 88
#define PTREGS_DX 96
#define PTREGS_SI 104
#define PTREGS_DI 112
#define PTREGS_ORIG_AX 120
#define PTREGS_IP 128
#define PTREGS_CS 136
#define PTREGS_FLAGS 144
#define PTREGS_SP 152
#define PTREGS_SS 160
#define PTREGS_SIZE 168

#ifndef __ASSEMBLER__
struct pt_regs {
	unsigned long r15;
	unsigned long r14;
	unsigned long r13;
	unsigned long r12;
	unsigned long bp;
	unsigned long bx;
	unsigned long r11;
	unsigned long r10;
	unsigned long r9;
	unsigned long r8;
	unsigned long ax;
	unsigned long cx;
	unsigned long dx;
	unsigned long si;
	unsigned long di;
	/* syscall number on syscall entry, error code (or -1) on exception entry */
	unsigned long orig_ax;
	/* the hardware (or SYSCALL-emulated) interrupt frame */
	unsigned long ip;
	unsigned long cs;
	unsigned long flags;
	unsigned long sp;
	unsigned long ss;
};

static inline int user_mode(const struct pt_regs *regs)
{
	return (regs->cs & 3) == 3;
}
#endif

#endif
