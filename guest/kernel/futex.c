/*
 * futex: a thread sleeps on a 32-bit user word (its address space + address: private and
 * shared futexes are the same thing when only threads share memory) until a wake on that
 * word, its timeout, or the end of its process. The value check and the sleep happen with
 * the scheduler's state held (interrupts off, and the kernel lock with several CPUs), so a
 * wake between them cannot be lost.
 */
#include "errno.h"
#include "syscalls.h"
#include "task.h"
#include "time.h"
#include "uaccess.h"
#include "uapi.h"

#define FUTEX_OP_OPARG_SHIFT 8
#define FOREVER (~0UL)

/* Wake up to n threads sleeping on (mm, uaddr) whose bitset meets bitset. */
static int futex_wake(struct mm *mm, unsigned long uaddr, int n, u32 bitset)
{
	int woken = 0;
	for (struct task *t = task_list; t && woken < n; t = t->next_task) {
		if (t->state != TASK_SLEEPING || t->futex_mm != mm || t->futex_uaddr != uaddr ||
		    !(t->futex_bitset & bitset))
			continue;
		t->futex_woken = true;
		t->futex_uaddr = 0;
		wake_up_task(t);
		woken++;
	}
	return woken;
}

/* Move up to n waiters from uaddr to uaddr2 (they then need a wake on uaddr2). */
static int futex_requeue(struct mm *mm, unsigned long uaddr, unsigned long uaddr2, int n)
{
	int moved = 0;
	for (struct task *t = task_list; t && moved < n; t = t->next_task)
		if (t->state == TASK_SLEEPING && t->futex_mm == mm && t->futex_uaddr == uaddr) {
			t->futex_uaddr = uaddr2;
			moved++;
		}
	return moved;
}

/* Sleep on uaddr while it holds val; 0 when woken, -ETIMEDOUT, -EAGAIN or -EINTR. */
static long futex_wait(unsigned long uaddr, u32 val, u64 deadline_ns, u32 bitset)
{
	struct task *t = current;
	u32 cur;
	if (copy_from_user(&cur, uaddr, sizeof(cur)))
		return -EFAULT;
	if (cur != val)
		return -EAGAIN;
	if (deadline_ns != FOREVER && ktime_get_ns() >= deadline_ns)
		return -ETIMEDOUT;
	t->futex_mm = t->mm;
	t->futex_uaddr = uaddr;
	t->futex_bitset = bitset;
	t->futex_woken = false;
	t->wake_at_ns = deadline_ns;
	t->state = TASK_SLEEPING;
	while (t->state == TASK_SLEEPING)
		schedule();
	t->futex_uaddr = 0;
	if (t->futex_woken)
		return 0;
	return thread_killed(t) ? -EINTR : -ETIMEDOUT;
}

static long timeout_ns(unsigned long utime, u64 *ns)
{
	struct timespec ts;
	if (copy_from_user(&ts, utime, sizeof(ts)))
		return -EFAULT;
	if (ts.tv_sec < 0 || (unsigned long)ts.tv_nsec >= NSEC_PER_SEC)
		return -EINVAL;
	*ns = (u64)ts.tv_sec > (FOREVER - ts.tv_nsec) / NSEC_PER_SEC
		      ? FOREVER
		      : ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
	return 0;
}

/* The monotonic deadline of a wait: FUTEX_WAIT's timeout is relative, the bitset one absolute. */
static long wait_deadline(int cmd, bool realtime, unsigned long utime, u64 *deadline)
{
	u64 ns, now = ktime_get_ns();
	*deadline = FOREVER;
	if (!utime)
		return 0;
	long err = timeout_ns(utime, &ns);
	if (err)
		return err;
	if (cmd == FUTEX_WAIT) {
		*deadline = ns > FOREVER - now ? FOREVER : now + ns;
		return 0;
	}
	u64 clock_now = realtime ? ktime_get_real_ns() : now;
	if (ns == FOREVER)
		return 0;
	*deadline = ns <= clock_now ? now : now + (ns - clock_now);
	return 0;
}

static long sign_extend12(unsigned v)
{
	return (long)((int)(v << 20) >> 20);
}

/* FUTEX_WAKE_OP: *uaddr2 = old OP oparg; wake on uaddr; and on uaddr2 if old CMP cmparg. */
static long futex_wake_op(struct mm *mm, unsigned long uaddr, int n, unsigned long uaddr2, int n2,
			  u32 encoded)
{
	unsigned op = (encoded >> 28) & 0xf, cmp = (encoded >> 24) & 0xf;
	long oparg = sign_extend12((encoded >> 12) & 0xfff),
	     cmparg = sign_extend12(encoded & 0xfff);
	u32 old, new_value;
	if (op & FUTEX_OP_OPARG_SHIFT) {
		if (oparg < 0 || oparg > 31)
			return -EINVAL;
		oparg = 1L << oparg;
		op &= ~FUTEX_OP_OPARG_SHIFT;
	}
	if (op > 4 || cmp > 5)
		return -ENOSYS;
	if (copy_from_user(&old, uaddr2, sizeof(old)))
		return -EFAULT;
	switch (op) {
	case 0:
		new_value = oparg;
		break;
	case 1:
		new_value = old + oparg;
		break;
	case 2:
		new_value = old | oparg;
		break;
	case 3:
		new_value = old & ~oparg;
		break;
	default:
		new_value = old ^ oparg;
		break;
	}
	if (copy_to_user(uaddr2, &new_value, sizeof(new_value)))
		return -EFAULT;
	int s = (int)old;
	bool hit = cmp == 0   ? s == cmparg
		   : cmp == 1 ? s != cmparg
		   : cmp == 2 ? s < cmparg
		   : cmp == 3 ? s <= cmparg
		   : cmp == 4 ? s > cmparg
			      : s >= cmparg;
	long woken = futex_wake(mm, uaddr, n, FUTEX_BITSET_MATCH_ANY);
	if (hit)
		woken += futex_wake(mm, uaddr2, n2, FUTEX_BITSET_MATCH_ANY);
	return woken;
}

long futex_wake_tid_address(struct mm *mm, unsigned long uaddr)
{
	return futex_wake(mm, uaddr, 1, FUTEX_BITSET_MATCH_ANY);
}

long sys_futex(ulong uaddr, ulong op, ulong val, ulong utime, ulong uaddr2, ulong val3)
{
	int cmd = op & FUTEX_CMD_MASK;
	bool realtime = op & FUTEX_CLOCK_REALTIME;
	struct mm *mm = current->mm;
	u64 deadline;
	long err;
	if (uaddr & 3)
		return -EINVAL;
	if (realtime && cmd != FUTEX_WAIT && cmd != FUTEX_WAIT_BITSET)
		return -ENOSYS;
	if (!access_ok(uaddr, 4))
		return -EFAULT;
	int n = (int)val < 0 ? 0x7fffffff : (int)val, n2 = (int)utime < 0 ? 0x7fffffff : (int)utime;
	switch (cmd) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET:
		if (cmd == FUTEX_WAIT)
			val3 = FUTEX_BITSET_MATCH_ANY;
		if (!(u32)val3)
			return -EINVAL;
		err = wait_deadline(cmd, realtime, utime, &deadline);
		return err ? err : futex_wait(uaddr, (u32)val, deadline, (u32)val3);
	case FUTEX_WAKE:
	case FUTEX_WAKE_BITSET:
		if (cmd == FUTEX_WAKE)
			val3 = FUTEX_BITSET_MATCH_ANY;
		if (!(u32)val3)
			return -EINVAL;
		return futex_wake(mm, uaddr, n, (u32)val3);
	case FUTEX_CMP_REQUEUE:
	case FUTEX_REQUEUE: {
		u32 cur;
		if ((uaddr2 & 3) || (int)val < 0 || (int)utime < 0)
			return -EINVAL;
		if (!access_ok(uaddr2, 4))
			return -EFAULT;
		if (cmd == FUTEX_CMP_REQUEUE) {
			if (copy_from_user(&cur, uaddr, sizeof(cur)))
				return -EFAULT;
			if (cur != (u32)val3)
				return -EAGAIN;
		}
		long woken = futex_wake(mm, uaddr, n, FUTEX_BITSET_MATCH_ANY);
		return woken + futex_requeue(mm, uaddr, uaddr2, n2);
	}
	case FUTEX_WAKE_OP:
		if (uaddr2 & 3)
			return -EINVAL;
		return futex_wake_op(mm, uaddr, n, uaddr2, n2, (u32)val3);
	default:
		return -ENOSYS; /* PI futexes, FUTEX_WAIT_REQUEUE_PI ... */
	}
}
