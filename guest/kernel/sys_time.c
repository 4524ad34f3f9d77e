/* Clocks and sleeping. */
#include "errno.h"
#include "syscalls.h"
#include "task.h"
#include "time.h"
#include "uaccess.h"
#include "uapi.h"

static bool clock_valid(int clk)
{
	switch (clk) {
	case CLOCK_REALTIME:
	case CLOCK_MONOTONIC:
	case CLOCK_PROCESS_CPUTIME_ID:
	case CLOCK_THREAD_CPUTIME_ID:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_REALTIME_COARSE:
	case CLOCK_MONOTONIC_COARSE:
	case CLOCK_BOOTTIME:
	case CLOCK_TAI:
		return true;
	default:
		return false;
	}
}

static u64 clock_now_ns(int clk)
{
	switch (clk) {
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE:
	case CLOCK_TAI:
		return ktime_get_real_ns();
	default:
		return ktime_get_ns();
	}
}

static struct timespec ns_to_timespec(u64 ns)
{
	return (struct timespec){ (long)(ns / NSEC_PER_SEC), (long)(ns % NSEC_PER_SEC) };
}

long sys_clock_gettime(ulong clk, ulong tp)
{
	if (!clock_valid((int)clk))
		return -EINVAL;
	struct timespec ts = ns_to_timespec(clock_now_ns((int)clk));
	return copy_to_user(tp, &ts, sizeof(ts)) ? -EFAULT : 0;
}

long sys_clock_getres(ulong clk, ulong res)
{
	if (!clock_valid((int)clk))
		return -EINVAL;
	bool coarse = clk == CLOCK_REALTIME_COARSE || clk == CLOCK_MONOTONIC_COARSE;
	struct timespec ts = { 0, coarse ? (long)TICK_NSEC : 1 };
	if (res && copy_to_user(res, &ts, sizeof(ts)))
		return -EFAULT;
	return 0;
}

long sys_gettimeofday(ulong tv, ulong tz)
{
	u64 now = ktime_get_real_ns();
	struct timeval v = { (long)(now / NSEC_PER_SEC), (long)(now % NSEC_PER_SEC / 1000) };
	int zone[2] = { 0, 0 };
	if (tv && copy_to_user(tv, &v, sizeof(v)))
		return -EFAULT;
	if (tz && copy_to_user(tz, zone, sizeof(zone)))
		return -EFAULT;
	return 0;
}

long sys_time(ulong tloc)
{
	long now = (long)(ktime_get_real_ns() / NSEC_PER_SEC);
	if (tloc && copy_to_user(tloc, &now, sizeof(now)))
		return -EFAULT;
	return now;
}

static long get_timespec_ns(ulong uts, u64 *ns)
{
	struct timespec ts;
	if (copy_from_user(&ts, uts, sizeof(ts)))
		return -EFAULT;
	if (ts.tv_sec < 0 || (unsigned long)ts.tv_nsec >= NSEC_PER_SEC)
		return -EINVAL;
	/* saturate instead of overflowing: about 584 years is "forever" */
	*ns = (u64)ts.tv_sec > (~0UL - ts.tv_nsec) / NSEC_PER_SEC
		      ? ~0UL
		      : ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
	return 0;
}

static u64 deadline_after(u64 ns)
{
	u64 now = ktime_get_ns();
	return ns > ~0UL - now ? ~0UL : now + ns;
}

long sys_nanosleep(ulong req, ulong rem)
{
	u64 ns;
	(void)rem;
	long err = get_timespec_ns(req, &ns);
	if (err)
		return err;
	sleep_until_ns(deadline_after(ns));
	return 0;
}

long sys_clock_nanosleep(ulong clk, ulong flags, ulong req, ulong rem)
{
	u64 ns;
	(void)rem;
	if (!clock_valid((int)clk) || clk == CLOCK_THREAD_CPUTIME_ID)
		return -EINVAL;
	long err = get_timespec_ns(req, &ns);
	if (err)
		return err;
	if (flags & TIMER_ABSTIME) {
		u64 now = clock_now_ns((int)clk);
		ns = ns > now ? ns - now : 0;
	}
	sleep_until_ns(deadline_after(ns));
	return 0;
}
