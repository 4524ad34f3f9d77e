/*
 * Function graph tracing, as Linux's function_graph tracer: the kernel is built with
 * -pg -mfentry, so every traced function starts with `call __fentry__`. When ftrace_enabled is
 * set, __fentry__ records the entry in this CPU's ring buffer and swaps the function's return
 * address for return_to_handler, which records the exit (with the return value) and returns to
 * the saved address, kept on the running task's shadow return stack.
 *
 * A tracer controls it by writing the globals below (gdb), drains the rings in bulk from a
 * breakpoint on ftrace_buffer_full() or any other stop, and tells the guest how far it read by
 * writing ring->tail. Layout: guest/README.md.
 */
#ifndef GUEST_FTRACE_H
#define GUEST_FTRACE_H

#include "compiler.h"
#include "percpu.h"

#define FTRACE_TYPE_ENTRY 0
#define FTRACE_TYPE_EXIT 1

#define FTRACE_RING_MAX_ENTRIES 65536 /* per CPU; the ring uses ftrace_entries= of them */
#define FTRACE_RING_DEFAULT_ENTRIES 16384
#define FTRACE_MAX_FUNCS 32	/* ftrace_graph_funcs / ftrace_notrace_funcs */
#define FTRACE_RETFUNC_DEPTH 64 /* shadow stack frames per task */
#define MCOUNT_INSN_SIZE 5	/* call __fentry__ */

/* One record: 32 bytes, fixed layout. */
struct ftrace_entry {
	u64 tsc;       /* rdtsc at the hook */
	u64 func_addr; /* the traced function's first instruction */
	u32 depth;     /* hooked frames below this one on the task's shadow stack */
	u8 type;       /* FTRACE_TYPE_ENTRY or FTRACE_TYPE_EXIT */
	u8 cpu;
	u16 pid;    /* the running task's pid (0: idle) */
	u64 retval; /* exit: RAX at the return; entry: 0 */
};

/*
 * head and tail count records since boot (never wrap); the next record goes to
 * entries[head & (size - 1)], the oldest unread one is entries[tail & (size - 1)].
 * The guest writes head (and tail when it overwrites); the tracer writes tail after a drain.
 */
struct ftrace_ring {
	u64 head;
	u64 tail;
	u64 size;	/* entries, a power of two <= FTRACE_RING_MAX_ENTRIES */
	u64 overruns;	/* records lost: overwritten unread (overwrite=1) or dropped (0) */
	u64 high_water; /* ftrace_buffer_full() is called when head - tail reaches this */
	u64 overwrite;	/* 1: a full ring overwrites its oldest record; 0: drops the new one */
	struct ftrace_entry *entries;
	u32 cpu;
	u32 reserved;
};

/* One hooked frame on a task's shadow return stack. */
struct ftrace_ret_stack {
	unsigned long ret;  /* the real return address, replaced by return_to_handler */
	unsigned long func; /* the hooked function */
	unsigned long flags;
};

#define FTRACE_FRAME_GRAPH_ROOT 1   /* a ftrace_graph_funcs function: counts ftrace_graph_active */
#define FTRACE_FRAME_NOTRACE_ROOT 2 /* a ftrace_notrace_funcs function: nothing recorded inside */

/* Controls: the tracer writes these through gdb. */
extern volatile int ftrace_enabled; /* 0/1; the only thing the hook reads when off */
extern unsigned long ftrace_graph_funcs[FTRACE_MAX_FUNCS]; /* set_graph_function */
extern volatile int ftrace_graph_count;
extern unsigned long ftrace_notrace_funcs[FTRACE_MAX_FUNCS]; /* set_graph_notrace */
extern volatile int ftrace_notrace_count;
extern volatile int ftrace_max_depth; /* max_graph_depth; 0: unlimited */

extern struct ftrace_ring ftrace_rings[NR_CPUS];
int ftrace_init_cpu(int cpu); /* an AP's ring (0, or -1 without memory) */

void ftrace_init(void);
void ftrace_buffer_full(struct ftrace_ring *ring);
void ftrace_dump_to_gtlog(void);

/* The hooks (ftrace_64.S calls these). */
void prepare_ftrace_return(unsigned long self_addr, unsigned long *parent);
unsigned long ftrace_return_to_handler(unsigned long retval);

#endif
