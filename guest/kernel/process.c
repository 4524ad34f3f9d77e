/* Creating a user process from a boot module: address space, ELF image, initial stack. */
#include "arch.h"
#include "boot.h"
#include "console.h"
#include "cpu.h"
#include "elf.h"
#include "errno.h"
#include "ftrace.h"
#include "gtlog.h"
#include "mm.h"
#include "ptrace.h"
#include "random.h"
#include "segment.h"
#include "smp.h"
#include "string.h"
#include "task.h"
#include "tls.h"
#include "uaccess.h"
#include "vdso.h"

#define MAX_ARGS 64
#define INITIAL_STACK_PAGES 8

extern char ret_from_fork_asm[];
extern struct fxregs_state init_fpu_state;

static const char *const default_envp[] = { "PATH=/bin", "HOME=/", "TERM=linux", NULL };
static int next_pid = 1;

/* Process and thread ids share one sequence, as in Linux. */
int alloc_pid(void)
{
	return next_pid++;
}

/* Kernel stacks of exited tasks, kept for reuse (they are physically contiguous). */
static unsigned long free_kstacks[256];
static int nr_free_kstacks;

unsigned long kstack_alloc(void)
{
	if (nr_free_kstacks)
		return free_kstacks[--nr_free_kstacks];
	u64 p = alloc_pages_contig(KSTACK_PAGES);
	return p ? (unsigned long)phys_to_virt(p) : 0;
}

void kstack_free(unsigned long kstack)
{
	if (nr_free_kstacks < (int)ARRAY_SIZE(free_kstacks))
		free_kstacks[nr_free_kstacks++] = kstack;
}

static int split_args(char *cmdline, char **argv)
{
	int argc = 0;
	char *p = cmdline;
	while (*p && argc < MAX_ARGS) {
		while (*p == ' ')
			*p++ = 0;
		if (!*p)
			break;
		argv[argc++] = p;
		while (*p && *p != ' ')
			p++;
	}
	while (*p == ' ')
		*p++ = 0;
	return argc;
}

/* The System V initial stack: argc, argv, envp, auxv, then the strings they point to. */
static const char *setup_stack(struct mm *mm, int argc, char **argv, const char *execfn,
			       const struct elf_image_info *info, unsigned long vdso,
			       unsigned long *sp_out)
{
	static char strings[8192];
	static u64 words[MAX_ARGS + 64];
	unsigned long top = mm->stack_top;
	size_t slen = 0;
	unsigned long argv_addr[MAX_ARGS], envp_addr[8];
	int envc = 0;

#define PUT_STRING(s, addr_out)                                                                    \
	do {                                                                                       \
		size_t n_ = strlen(s) + 1;                                                         \
		if (slen + n_ > sizeof(strings) - 64)                                              \
			return "arguments too long";                                               \
		memcpy(strings + slen, (s), n_);                                                   \
		(addr_out) = slen;                                                                 \
		slen += n_;                                                                        \
	} while (0)

	unsigned long execfn_off, platform_off;
	PUT_STRING(execfn, execfn_off);
	for (int i = 0; i < argc; i++)
		PUT_STRING(argv[i], argv_addr[i]);
	for (; default_envp[envc]; envc++)
		PUT_STRING(default_envp[envc], envp_addr[envc]);
	PUT_STRING("x86_64", platform_off);
	unsigned long random_off = slen;
	get_random_bytes(strings + slen, 16);
	slen += 16;
#undef PUT_STRING

	unsigned long strings_base = ALIGN_DOWN(top - slen, 16);
	int n = 0;
	words[n++] = argc;
	for (int i = 0; i < argc; i++)
		words[n++] = strings_base + argv_addr[i];
	words[n++] = 0;
	for (int i = 0; i < envc; i++)
		words[n++] = strings_base + envp_addr[i];
	words[n++] = 0;
#define AUX(k, v)                                                                                  \
	do {                                                                                       \
		words[n++] = (k);                                                                  \
		words[n++] = (v);                                                                  \
	} while (0)
	AUX(AT_SYSINFO_EHDR, vdso);
	AUX(AT_PHDR, info->phdr);
	AUX(AT_PHENT, sizeof(Elf64_Phdr));
	AUX(AT_PHNUM, info->phnum);
	AUX(AT_PAGESZ, PAGE_SIZE);
	AUX(AT_BASE, 0);
	AUX(AT_FLAGS, 0);
	AUX(AT_ENTRY, info->entry);
	AUX(AT_UID, 0);
	AUX(AT_EUID, 0);
	AUX(AT_GID, 0);
	AUX(AT_EGID, 0);
	AUX(AT_SECURE, 0);
	AUX(AT_HWCAP, boot_cpu.hwcap);
	AUX(AT_HWCAP2, boot_cpu.fsgsbase ? 2 : 0); /* HWCAP2_FSGSBASE */
	AUX(AT_CLKTCK, 100);
	AUX(AT_PLATFORM, strings_base + platform_off);
	AUX(AT_RANDOM, strings_base + random_off);
	AUX(AT_MINSIGSTKSZ, MINSIGSTKSZ);
	AUX(AT_EXECFN, strings_base + execfn_off);
	AUX(AT_NULL, 0);
#undef AUX
	unsigned long sp = ALIGN_DOWN(strings_base - n * 8, 16); /* rsp % 16 == 0 at _start */

	unsigned long low = ALIGN_DOWN(sp, PAGE_SIZE) - PAGE_SIZE;
	if (top - low > INITIAL_STACK_PAGES * PAGE_SIZE)
		return "arguments too long";
	for (unsigned long va = top - INITIAL_STACK_PAGES * PAGE_SIZE; va < top; va += PAGE_SIZE)
		if (mm_map_zero_page(mm, va, PTE_P | PTE_U | PTE_W | pte_nx_bit))
			return "out of memory";
	if (mm_copy_to_user(mm, strings_base, strings, slen) ||
	    mm_copy_to_user(mm, sp, words, n * 8))
		return "cannot write the initial stack";
	*sp_out = sp;
	return NULL;
}

static void init_task_state(struct task *t)
{
	t->state = TASK_RUNNING;
	t->open_fds = 0x7;
	for (int i = 0; i < RLIM_NLIMITS; i++)
		t->rlim[i] = (struct rlimit64){ RLIM_INFINITY, RLIM_INFINITY };
	t->rlim[RLIMIT_STACK] = (struct rlimit64){ USER_STACK_MAX, RLIM_INFINITY };
	t->rlim[RLIMIT_NOFILE] = (struct rlimit64){ 1024, 4096 };
	t->rlim[4] = (struct rlimit64){ 0, RLIM_INFINITY };	/* RLIMIT_CORE */
	t->rlim[8] = (struct rlimit64){ 8UL << 20, 8UL << 20 }; /* RLIMIT_MEMLOCK */
	t->rlim[6] = (struct rlimit64){ 1024, 1024 };		/* RLIMIT_NPROC */
	t->rlim[11] = (struct rlimit64){ 1024, 1024 };		/* RLIMIT_SIGPENDING */
	t->rlim[12] = (struct rlimit64){ 819200, 819200 };	/* RLIMIT_MSGQUEUE */
	t->rlim[13] = (struct rlimit64){ 0, 0 };		/* RLIMIT_NICE */
	t->rlim[14] = (struct rlimit64){ 0, 0 };		/* RLIMIT_RTPRIO */
	t->altstack.ss_flags = SS_DISABLE;
	t->fpu = init_fpu_state;
	t->cpus_allowed = ~0UL;
}

int task_alloc_thread_state(struct task *t)
{
	t->kernel_tcb = kernel_tls_alloc(t);
	u64 rs = alloc_page();
	_Static_assert(sizeof(struct ftrace_ret_stack) * FTRACE_RETFUNC_DEPTH <= PAGE_SIZE,
		       "shadow stack fits a page");
	t->ret_stack = rs ? phys_to_virt(rs) : NULL;
	t->curr_ret_stack = 0;
	return t->kernel_tcb && t->ret_stack ? 0 : -ENOMEM;
}

void task_free_thread_state(struct task *t)
{
	kernel_tls_free(t->kernel_tcb);
	t->kernel_tcb = 0;
	if (t->ret_stack)
		free_page(virt_to_phys(t->ret_stack));
	t->ret_stack = NULL;
}

void task_release(struct task *t)
{
	if (t->mm)
		mm_destroy(t->mm);
	if (t->kstack)
		kstack_free(t->kstack);
	task_free_thread_state(t);
	free_page(virt_to_phys(t));
}

/*
 * The stack __switch_to_asm resumes a new task from: it pops r15 r14 r13 r12 rbx rbp, then
 * returns into ret_from_fork_asm, which passes rbx (kernel thread function) and r12 (its
 * argument) to ret_from_fork. r12 = 0 is also "no TLS switch on entry" for the exit stub.
 */
void init_switch_frame(struct task *t, struct pt_regs *regs, void (*fn)(void *), void *arg)
{
	unsigned long *frame = (unsigned long *)regs - 7;
	memset(frame, 0, 7 * sizeof(unsigned long));
	frame[3] = (unsigned long)arg; /* r12 */
	frame[4] = (unsigned long)fn;  /* rbx */
	frame[6] = (unsigned long)ret_from_fork_asm;
	t->thread.sp = (unsigned long)frame;
}

#define KTHREAD_PID_BASE 1000
static int next_kthread_pid = KTHREAD_PID_BASE;

struct task *kthread_create(void (*fn)(void *), void *arg, const char *name)
{
	u64 tp = alloc_page();
	if (!tp)
		return NULL;
	struct task *t = phys_to_virt(tp);
	t->state = TASK_RUNNING;
	t->flags = PF_KTHREAD;
	t->cpus_allowed = ~0UL;
	strlcpy(t->comm, name, sizeof(t->comm));
	strlcpy(t->exe, name, sizeof(t->exe));
	t->kstack = kstack_alloc();
	if (!t->kstack || task_alloc_thread_state(t)) {
		task_release(t);
		return NULL;
	}
	t->kstack_top = t->kstack + KSTACK_SIZE;
	/* An empty pt_regs at the top keeps the layout of user tasks (nothing returns to it). */
	struct pt_regs *regs = (struct pt_regs *)(t->kstack_top - sizeof(struct pt_regs));
	memset(regs, 0, sizeof(*regs));
	init_switch_frame(t, regs, fn, arg);
	t->pid = t->tgid = next_kthread_pid++;
	task_list_add(t);
	return t;
}

struct task *task_create_user(const struct boot_module *mod, int *err)
{
	static char cmdline[sizeof(mod->cmdline)];
	char *argv[MAX_ARGS];
	const char *why = "out of memory";
	struct elf_image_info info;
	unsigned long sp;

	strlcpy(cmdline, mod->cmdline, sizeof(cmdline));
	int argc = split_args(cmdline, argv);
	const char *path = argc ? argv[0] : "?";

	_Static_assert(sizeof(struct task) <= PAGE_SIZE, "struct task fits a page");
	u64 tp = alloc_page();
	if (!tp)
		goto fail_nothing;
	struct task *t = phys_to_virt(tp);
	init_task_state(t);
	/* /proc/self/exe is absolute (glibc asserts it); the guest's working directory is "/". */
	const char *rel = path;
	while (rel[0] == '.' && rel[1] == '/')
		rel += 2;
	snprintf(t->exe, sizeof(t->exe), "%s%s", rel[0] == '/' ? "" : "/", rel);
	const char *base = strrchr(path, '/');
	strlcpy(t->comm, base ? base + 1 : path, sizeof(t->comm));
	t->kstack = kstack_alloc();
	t->mm = mm_create();
	if (!t->kstack || !t->mm || task_alloc_thread_state(t))
		goto fail;
	t->kstack_top = t->kstack + KSTACK_SIZE;

	why = elf_load(t->mm, phys_to_virt(mod->start), mod->end - mod->start, &info);
	if (why)
		goto fail;
	t->mm->start_brk = t->mm->brk = info.brk;
	if (argc == 0) {
		why = "empty module command line";
		goto fail;
	}
	unsigned long vdso = vdso_map(t->mm);
	why = "out of memory";
	if (!vdso)
		goto fail;
	why = setup_stack(t->mm, argc, argv, path, &info, vdso, &sp);
	if (why)
		goto fail;

	/* The frame ret_from_fork_asm returns to user mode with (Linux's start_thread). */
	struct pt_regs *regs = (struct pt_regs *)(t->kstack_top - sizeof(struct pt_regs));
	memset(regs, 0, sizeof(*regs));
	regs->ip = info.entry;
	regs->cs = __USER_CS;
	regs->flags = X86_EFLAGS_IF | X86_EFLAGS_FIXED;
	regs->sp = sp;
	regs->ss = __USER_DS;
	regs->orig_ax = -1UL;
	init_switch_frame(t, regs, NULL, NULL);

	t->pid = t->tgid = alloc_pid();
	t->group_leader = t;
	t->nr_threads = 1;
	*err = 0;
	return t;

fail:
	task_release(t);
fail_nothing:
	printk("kernel: cannot run '%s': %s\n", path, why);
	*err = -ENOEXEC;
	return NULL;
}

/*
 * A new task's first C code (from ret_from_fork_asm, after __switch_to_asm). Kernel threads
 * run kthread_fn(kthread_arg) and never come back; processes return to user mode.
 */
void ret_from_fork(struct pt_regs *regs, void (*kthread_fn)(void *), void *kthread_arg,
		   struct task *prev)
{
	struct task *t = current;
	finish_task_switch(prev);
	kernel_lock_set_depth(1); /* the CPU holds the kernel lock from schedule() */
	if (kthread_fn) {
		gtlog_kthread_start(t, (u64)kthread_fn);
		if (boot_params.verbose)
			printk("kernel: started kernel thread %d: %s\n", t->pid, t->comm);
		kthread_fn(kthread_arg);
		do_exit(0, 0);
	}
	if (t->group_leader == t) {
		gtlog_process_start(t->pid, t->exe, regs->ip, regs->sp, t->kernel_tcb);
		if (boot_params.verbose)
			printk("kernel: started pid %d: %s\n", t->pid, t->exe);
	} else {
		gtlog_thread_start(t, regs->ip, regs->sp);
		if (boot_params.verbose)
			printk("kernel: started thread %d of pid %d\n", t->pid, t->tgid);
	}
	exit_to_user_mode(regs); /* its process may have ended before it first ran */
	kernel_unlock();
}
