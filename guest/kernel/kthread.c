/*
 * ktickd: a kernel thread that wakes every KTICK_PERIOD_MS, works for a while with interrupts
 * on (so the timer can preempt it in ring 0), keeps its progress in kernel thread-locals and
 * checks after every round that they are still its own. kthread=1 (default with
 * sched=parallel) starts it; it never exits and does not keep the machine running.
 */
#include "boot.h"
#include "console.h"
#include "cpu.h"
#include "gtlog.h"
#include "smp.h"
#include "task.h"
#include "time.h"
#include "tls.h"

#define KTICK_PERIOD_MS 50
#define KTICK_WORK_US 12000 /* longer than a tick: the timer preempts it in ring 0 */

static unsigned long ktick_failures;

/* Busy work with interrupts on: preemptible; the thread-locals must come back unchanged. */
static noinline u64 ktick_work(u64 tick)
{
	u64 acc = tick, deadline = rdtsc() + tsc_khz * KTICK_WORK_US / 1000;
	kernel_unlock(); /* thread-local work only: the other CPUs go on meanwhile */
	sti();
	for (u64 i = 0; rdtsc() < deadline; i++) {
		acc = acc * 6364136223846793005UL + i;
		if (!(i & 255))
			this_thread_write(tls_kthread_ticks, tick);
	}
	cli();
	kernel_lock();
	return acc;
}

static noinline bool ktick_check(struct task *self, u64 tick)
{
	struct task *owner = this_thread_read(tls_current);
	u64 ticks = this_thread_read(tls_kthread_ticks);
	if (owner == self && ticks == tick)
		return true;
	if (!ktick_failures++)
		printk("ktickd: thread-locals not its own after tick %lu: tls_current=0x%lx "
		       "tls_kthread_ticks=%lu\n",
		       tick, (unsigned long)owner, ticks);
	gtlog_tls_mismatch(self->pid, read_fs_base(), (u64)owner, (u64)self);
	return false;
}

static notrace void ktickd(void *arg)
{
	struct task *self = current;
	(void)arg;
	for (u64 tick = 1;; tick++) {
		sleep_until_ns(ktime_get_ns() + KTICK_PERIOD_MS * 1000000UL);
		u64 work = ktick_work(tick);
		ktick_check(self, tick);
		gtlog_kthread_tick(self, tick, work, this_thread_read(tls_irq_count));
		if (boot_params.verbose && tick % 50 == 0)
			printk("ktickd: tick %lu\n", tick);
	}
}

void kthreads_start(void)
{
	int want = boot_params.kthread < 0 ? boot_params.sched_parallel : boot_params.kthread;
	if (want && !kthread_create(ktickd, NULL, "ktickd"))
		printk("kernel: cannot start ktickd: out of memory\n");
}
