/*
 * Function graph tracing (include/ftrace.h): the C half of the hooks in arch/ftrace_64.S.
 * Not instrumented (Makefile NOTRACE_SRCS), and everything it calls is inline or notrace, so a
 * hook can never re-enter itself. Interrupts are off inside: a kernel thread that runs with
 * them on may be interrupted between two hooks but never in the middle of one.
 */
#include "ftrace.h"
#include "smp.h"
#include "boot.h"
#include "cpu.h"
#include "gtlog.h"
#include "mm.h"
#include "task.h"

volatile int ftrace_enabled;
unsigned long ftrace_graph_funcs[FTRACE_MAX_FUNCS];
volatile int ftrace_graph_count;
unsigned long ftrace_notrace_funcs[FTRACE_MAX_FUNCS];
volatile int ftrace_notrace_count;
volatile int ftrace_max_depth;
/* Frames not hooked because a task's shadow stack was full. */
unsigned long ftrace_shadow_overflows;

static struct ftrace_entry ftrace_entries_cpu0[FTRACE_RING_MAX_ENTRIES] __aligned(64);

struct ftrace_ring ftrace_rings[NR_CPUS] = {
	{
		.size = FTRACE_RING_DEFAULT_ENTRIES,
		.high_water = FTRACE_RING_DEFAULT_ENTRIES / 4 * 3,
		.overwrite = 1,
		.entries = ftrace_entries_cpu0,
		.cpu = 0,
	},
};

/* Set once the per-CPU area and the tasks' shadow stacks exist (the hook needs both). */
static bool ftrace_ready;

extern char return_to_handler[];

static __always_inline unsigned long irq_save(void)
{
	unsigned long flags;
	__asm__ volatile("pushfq; popq %0; cli" : "=r"(flags)::"memory");
	return flags;
}

static __always_inline void irq_restore(unsigned long flags)
{
	__asm__ volatile("pushq %0; popfq" ::"r"(flags) : "memory", "cc");
}

/* The tracer's breakpoint: the ring has reached its high-water mark, drain it now. */
notrace noinline void ftrace_buffer_full(struct ftrace_ring *ring)
{
	__asm__ volatile("" ::"r"(ring) : "memory");
}

static __always_inline void ring_write(int type, unsigned long func, int depth,
				       unsigned long retval, const struct task *t)
{
	struct ftrace_ring *r = this_cpu()->ftrace_ring;
	u64 head = r->head, size = r->size;
	if ((s64)(head - r->tail) < 0) /* a tail written past head: nothing is unread */
		r->tail = head;
	if (head - r->tail >= size) {
		r->overruns++;
		if (!r->overwrite)
			return;
		r->tail = head - size + 1;
	}
	struct ftrace_entry *e = &r->entries[head & (size - 1)];
	e->tsc = rdtsc();
	e->func_addr = func;
	e->depth = depth;
	e->type = type;
	e->cpu = r->cpu;
	e->pid = t->pid;
	e->retval = retval;
	barrier();
	r->head = head + 1;
	if (head + 1 - r->tail == r->high_water)
		ftrace_buffer_full(r);
}

static __always_inline bool in_list(const unsigned long *funcs, int count, unsigned long func)
{
	if (count > FTRACE_MAX_FUNCS)
		count = FTRACE_MAX_FUNCS;
	for (int i = 0; i < count; i++)
		if (funcs[i] == func)
			return true;
	return false;
}

/* From ftrace_caller: self_addr is the traced function, *parent its return address. */
notrace void prepare_ftrace_return(unsigned long self_addr, unsigned long *parent)
{
	if (unlikely(!ftrace_ready))
		return;
	unsigned long flags = irq_save();
	struct task *t = this_cpu()->current_task;
	int depth = t->curr_ret_stack;
	unsigned long frame_flags = 0;
	if (!t->ret_stack || t->ftrace_notrace_active)
		goto out;
	if (depth >= FTRACE_RETFUNC_DEPTH) {
		ftrace_shadow_overflows++;
		goto out;
	}
	if (in_list(ftrace_notrace_funcs, ftrace_notrace_count, self_addr)) {
		frame_flags = FTRACE_FRAME_NOTRACE_ROOT; /* hooked only to see it return */
	} else {
		if (ftrace_graph_count && !t->ftrace_graph_active) {
			if (!in_list(ftrace_graph_funcs, ftrace_graph_count, self_addr))
				goto out;
			frame_flags = FTRACE_FRAME_GRAPH_ROOT;
		}
		if (ftrace_max_depth > 0 && depth >= ftrace_max_depth)
			goto out;
	}
	struct ftrace_ret_stack *f = &t->ret_stack[depth];
	f->ret = *parent;
	f->func = self_addr;
	f->flags = frame_flags;
	t->curr_ret_stack = depth + 1;
	if (frame_flags & FTRACE_FRAME_NOTRACE_ROOT) {
		t->ftrace_notrace_active++;
	} else {
		if (frame_flags & FTRACE_FRAME_GRAPH_ROOT)
			t->ftrace_graph_active++;
		ring_write(FTRACE_TYPE_ENTRY, self_addr, depth, 0, t);
	}
	*parent = (unsigned long)return_to_handler;
out:
	irq_restore(flags);
}

/* From return_to_handler: record the exit, give back the real return address. */
notrace unsigned long ftrace_return_to_handler(unsigned long retval)
{
	unsigned long flags = irq_save();
	struct task *t = this_cpu()->current_task;
	int depth = t->curr_ret_stack - 1;
	if (unlikely(depth < 0 || !t->ret_stack)) {
		/* cannot happen: only hooked frames come here; there is no address to go back to */
		for (;;)
			__asm__ volatile("cli; hlt");
	}
	struct ftrace_ret_stack *f = &t->ret_stack[depth];
	t->curr_ret_stack = depth;
	if (f->flags & FTRACE_FRAME_NOTRACE_ROOT) {
		t->ftrace_notrace_active--;
	} else {
		ring_write(FTRACE_TYPE_EXIT, f->func, depth, retval, t);
		if (f->flags & FTRACE_FRAME_GRAPH_ROOT)
			t->ftrace_graph_active--;
	}
	unsigned long ret = f->ret;
	irq_restore(flags);
	return ret;
}

notrace void ftrace_init(void)
{
	struct ftrace_ring *r = &ftrace_rings[0];
	r->size = boot_params.ftrace_entries;
	r->high_water = r->size / 4 * 3;
	r->head = r->tail = r->overruns = 0;
	cpu0_percpu.ftrace_ring = r;
	ftrace_ready = true;
	if (boot_params.ftrace)
		ftrace_enabled = 1;
}

/* An AP's ring, before it starts: entries from the page allocator (never given back). */
notrace int ftrace_init_cpu(int cpu)
{
	struct ftrace_ring *r = &ftrace_rings[cpu];
	unsigned long size = boot_params.ftrace_entries;
	u64 pages = (size * sizeof(struct ftrace_entry) + PAGE_SIZE - 1) / PAGE_SIZE;
	u64 phys = alloc_pages_contig(pages);
	if (!phys)
		return -1;
	r->entries = phys_to_virt(phys);
	r->size = size;
	r->high_water = size / 4 * 3;
	r->overwrite = 1;
	r->head = r->tail = r->overruns = 0;
	r->cpu = cpu;
	return 0;
}

/* ftrace_dump=1: the unread records to the ground-truth log (tests; the tracer uses gdb). */
notrace void ftrace_dump_to_gtlog(void)
{
	ftrace_enabled = 0;
	if (!boot_params.ftrace_dump || !gtlog_enabled)
		return;
	for (int cpu = 0; cpu < nr_cpus; cpu++) {
		struct ftrace_ring *r = &ftrace_rings[cpu];
		gtlog_ftrace_ring(cpu, r->head, r->tail, r->size, r->overruns);
		for (u64 i = r->tail; i != r->head; i++)
			gtlog_ftrace_entry(&r->entries[i & (r->size - 1)]);
	}
}
