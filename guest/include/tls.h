/*
 * TLS schemes (tls= on the command line) and the kernel's own thread-locals.
 *
 * Every thread (idle, kernel threads, processes) has a kernel TLS block laid out as the x86-64
 * ABI (variant II) lays out a static executable's: the PT_TLS image of kernel.elf, then the
 * kernel TCB, whose first word points to itself. The thread pointer is the TCB's address, and
 * a variable lives at TP + its @tpoff (the linker's value: st_value - ALIGN_UP(memsz, align)).
 *
 *   linux   the kernel never touches FS; thread-locals through current->kernel_tcb
 *   gs      the kernel never touches FS; thread-locals through %gs:kernel_tcb (per-CPU)
 *   osv     thread-locals are %fs:x@tpoff: FS is switched to the kernel TCB on every entry
 *           from a thread running on its app TCB and back on exit (tls_switch_to_kernel/app)
 *   broken  osv without the entry/exit switch: the kernel runs on the app's TCB
 */
#ifndef GUEST_TLS_H
#define GUEST_TLS_H

/* Causes of a segment-base write (ground truth `tls_switch`, `cause`). */
#define TLS_CAUSE_BOOT 0
#define TLS_CAUSE_SYSCALL_ENTRY 1
#define TLS_CAUSE_SYSCALL_EXIT 2
#define TLS_CAUSE_IRQ_ENTRY 3
#define TLS_CAUSE_IRQ_EXIT 4
#define TLS_CAUSE_EXCEPTION_ENTRY 5
#define TLS_CAUSE_EXCEPTION_EXIT 6
#define TLS_CAUSE_CONTEXT_SWITCH 7
#define TLS_CAUSE_ARCH_PRCTL 8
#define TLS_CAUSE_RET_FROM_FORK 9

#ifndef __ASSEMBLER__
#include "boot.h"
#include "compiler.h"
#include "percpu.h"
#include "task.h"

struct task;
struct pt_regs;

/* At the thread pointer: fs:0 (osv, broken) or %gs:kernel_tcb (gs) points here. */
struct kernel_tcb {
	struct kernel_tcb *self; /* x86-64 TLS ABI: the TCB's first word points to itself */
	struct task *task;	 /* the thread this block belongs to */
};

/* The kernel's thread-locals (STT_TLS symbols of kernel.elf). */
extern __thread struct task *tls_current;	   /* the thread owning the block */
extern __thread unsigned long tls_syscall_count;   /* syscalls this thread made */
extern __thread unsigned long tls_last_syscall_nr; /* its latest syscall number */
extern __thread unsigned long tls_irq_count;	   /* interrupts taken while it ran */
extern __thread unsigned long tls_exception_count; /* exceptions it took */
extern __thread unsigned long tls_kthread_ticks;   /* kernel threads: rounds of work done */
extern __thread unsigned long tls_magic;	   /* .tdata: KERNEL_TLS_MAGIC in every block */
#define TLS_SYSCALL_HISTORY 8
/* the thread's last syscall numbers, slot tls_syscall_count % 8 (a debugging aid) */
extern __thread unsigned long tls_syscall_history[TLS_SYSCALL_HISTORY];

#define KERNEL_TLS_MAGIC 0x6b746c736d616763UL /* "ktlsmagc" */

/* True for osv and broken: kernel thread-locals are %fs-relative. */
extern bool tls_kernel_uses_fs;
/* True for osv: the entry stubs call tls_switch_to_kernel/tls_switch_to_app. */
extern bool tls_entry_switch;
/* FS writes use wrfsbase instead of wrmsr (wrfsbase=1 and CR4.FSGSBASE). */
extern bool tls_use_wrfsbase;

extern const char *const tls_scheme_names[];
extern const char *const tls_cause_names[];

/* The thread pointer of the running thread's kernel TLS block when FS is not used. */
static __always_inline unsigned long kernel_tls_tp_nofs(void)
{
	if (tls_scheme == TLS_GS)
		return this_cpu_kernel_tcb(); /* %gs:kernel_tcb */
	return current->kernel_tcb;	      /* linux: through %gs:current_task */
}

/* The variable's offset from the thread pointer, as the linker resolved it. */
#define tls_tpoff(var)                                                                             \
	({                                                                                         \
		long off_;                                                                         \
		__asm__("movq $" #var "@tpoff, %0" : "=r"(off_));                                  \
		off_;                                                                              \
	})

#define this_thread_ptr_nofs(var) ((__typeof__(var) *)(kernel_tls_tp_nofs() + tls_tpoff(var)))

/*
 * Access the running thread's instance of a kernel thread-local. Under osv and broken this is
 * the plain %fs:var@tpoff access the compiler emits (the barrier keeps it in its branch).
 */
#define this_thread_read(var)                                                                      \
	({                                                                                         \
		__typeof__(var) v_;                                                                \
		if (tls_kernel_uses_fs) {                                                          \
			v_ = (var);                                                                \
			barrier();                                                                 \
		} else {                                                                           \
			v_ = *this_thread_ptr_nofs(var);                                           \
		}                                                                                  \
		v_;                                                                                \
	})

#define this_thread_write(var, val)                                                                \
	do {                                                                                       \
		if (tls_kernel_uses_fs) {                                                          \
			(var) = (val);                                                             \
			barrier();                                                                 \
		} else {                                                                           \
			*this_thread_ptr_nofs(var) = (val);                                        \
		}                                                                                  \
	} while (0)

#define this_thread_add(var, n) this_thread_write(var, this_thread_read(var) + (n))

/* An element of a thread-local array. */
#define this_thread_write_idx(arr, i, val)                                                         \
	do {                                                                                       \
		if (tls_kernel_uses_fs) {                                                          \
			(arr)[i] = (val);                                                          \
			barrier();                                                                 \
		} else {                                                                           \
			((__typeof__(&(arr)[0]))(kernel_tls_tp_nofs() + tls_tpoff(arr)))[i] =      \
				(val);                                                             \
		}                                                                                  \
	} while (0)

void tls_init(void);
/* A zeroed page with the TLS image copied in; returns the thread pointer (0: no memory). */
unsigned long kernel_tls_alloc(struct task *owner);
void kernel_tls_free(unsigned long tp);

/* Entry/exit switch (tls=osv), called from the entry stubs with pt_regs complete. */
bool tls_switch_to_kernel(struct pt_regs *regs, int cause);
void tls_switch_to_app(struct pt_regs *regs, int cause, bool switched);
/* A kernel-mode fault on the fs:0 read of tls_switch_to_kernel: resume it (do_exception). */
bool tls_fs0_fault_fixup(struct pt_regs *regs);

/* The one place the kernel writes FS_BASE, GS_BASE or KERNEL_GS_BASE (logged with cause). */
void set_fs_base(unsigned long value, int cause);
void set_segbase_msr(u32 msr, unsigned long value, int cause);
unsigned long read_fs_base(void);

/* Context switch part of the scheme: FS and KERNEL_GS_BASE for next, percpu.kernel_tcb. */
void tls_context_switch(struct task *prev, struct task *next);
/* arch_prctl(ARCH_SET_FS) / ARCH_GET_FS under the scheme. */
void tls_set_user_fs(struct task *t, unsigned long addr);
unsigned long tls_get_user_fs(struct task *t);

/* Syscall-path bookkeeping on the thread-locals; warns once per thread when they are not its. */
void tls_account_syscall(struct task *t, int nr);
#endif

#endif
