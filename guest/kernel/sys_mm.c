/*
 * Memory syscalls over the page tables themselves (no VMA list): anonymous memory only,
 * populated eagerly, except PROT_NONE pages which get a frame only when made accessible.
 * With lazymm=1 the heap and anonymous mappings get their frames on first touch instead.
 */
#include "boot.h"
#include "cpu.h"
#include "errno.h"
#include "mm.h"
#include "smp.h"
#include "string.h"
#include "syscalls.h"
#include "task.h"
#include "uaccess.h"
#include "uapi.h"

#define PROT_VALID (PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM | PROT_GROWSDOWN | PROT_GROWSUP)
#define BRK_PTE (PTE_P | PTE_U | PTE_W)

static unsigned long heap_limit(struct mm *mm)
{
	return mm->stack_top - USER_STACK_MAX;
}

long sys_brk(ulong addr)
{
	struct mm *mm = current->mm;
	if (addr < mm->start_brk || addr >= heap_limit(mm))
		return mm->brk;
	unsigned long newbrk = ALIGN_UP(addr, PAGE_SIZE), oldbrk = ALIGN_UP(mm->brk, PAGE_SIZE);
	if (newbrk < oldbrk) {
		mm_unmap_range(mm, newbrk, oldbrk);
	} else if (newbrk > oldbrk) {
		if (!mm_range_free(mm, oldbrk, newbrk))
			return mm->brk;
		if (!boot_params.lazymm && mm_map_range(mm, oldbrk, newbrk, BRK_PTE | pte_nx_bit))
			return mm->brk;
	}
	mm->brk = addr;
	return addr;
}

/* Populate [start, end) with prot; PROT_NONE pages are reserved without a frame. */
static long map_anon(struct mm *mm, unsigned long start, unsigned long end, unsigned long prot)
{
	u64 pte = prot_to_pte(prot);
	if ((pte & PTE_P) && !boot_params.lazymm)
		return mm_map_range(mm, start, end, pte);
	if (pte & PTE_P)
		pte = (pte & ~PTE_P) | PTE_LAZY;
	for (unsigned long va = start, stop; va < end;) {
		u64 *p = mm_walk_span(mm, va, end, true, &stop);
		if (!p) {
			mm_unmap_range(mm, start, va);
			return -ENOMEM;
		}
		for (; va < stop; va += PAGE_SIZE)
			*p++ = pte;
	}
	return 0;
}

/* Every page of [start, end) mapped (fault_in: a lazy page may get its frame now). */
static bool range_mapped(struct mm *mm, unsigned long start, unsigned long end, bool fault_in)
{
	unsigned long va = start, stop;
	while (va < end) {
		u64 *pte = mm_walk_span(mm, va, end, false, &stop);
		for (; pte && va < stop && (*pte & PTE_MAPPED); va += PAGE_SIZE)
			pte++;
		if (va >= stop)
			continue; /* the whole span is mapped */
		if (!fault_in || !mm_fault_in_lazy(mm, va))
			return false;
		va += PAGE_SIZE; /* its table may be new: walk again */
	}
	return true;
}

/* A free range of len bytes below mm->mmap_base and well above the heap, searched top-down. */
static unsigned long search_down(struct mm *mm, unsigned long end, unsigned long len)
{
	unsigned long low = ALIGN_UP(mm->brk, PAGE_SIZE) + (64UL << 20);
	while (end >= low + len) {
		unsigned long start = end - len;
		unsigned long hit = mm_first_mapped(mm, start, end);
		if (hit >= end)
			return start;
		end = hit;
	}
	return 0;
}

static unsigned long find_free_range(struct mm *mm, unsigned long len)
{
	unsigned long start = search_down(mm, mm->mmap_hint, len);
	if (!start)
		start = search_down(mm, mm->mmap_base, len);
	if (start)
		mm->mmap_hint = start;
	return start;
}

long sys_mmap(ulong addr, ulong len, ulong prot, ulong flags, ulong fd, ulong off)
{
	struct mm *mm = current->mm;
	(void)fd;
	if (off & (PAGE_SIZE - 1))
		return -EINVAL;
	ulong type = flags & MAP_TYPE;
	if (type != MAP_SHARED && type != MAP_PRIVATE && type != MAP_SHARED_VALIDATE)
		return -EINVAL;
	if (!(flags & MAP_ANONYMOUS))
		return (int)fd >= 0 && fd < 3 && (group_of(current)->open_fds & (1u << fd)) ? -ENODEV
										  : -EBADF;
	if (!len)
		return -EINVAL;
	if (prot & ~(ulong)PROT_VALID)
		return -EINVAL;
	if (len > TASK_SIZE_MAX)
		return -ENOMEM;
	len = ALIGN_UP(len, PAGE_SIZE);
	if (len / PAGE_SIZE + 64 > nr_free_pages())
		return -ENOMEM; /* everything is populated up front (PROT_NONE: page tables) */

	unsigned long start;
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		if (addr & (PAGE_SIZE - 1))
			return -EINVAL;
		if (addr > TASK_SIZE_MAX - len)
			return -ENOMEM;
		if (addr < MMAP_MIN_ADDR)
			return -EPERM;
		if (!(flags & MAP_FIXED) && !mm_range_free(mm, addr, addr + len))
			return -EEXIST;
		mm_unmap_range(mm, addr, addr + len);
		start = addr;
	} else {
		addr = ALIGN_DOWN(addr, PAGE_SIZE);
		if (addr >= MMAP_MIN_ADDR && addr <= TASK_SIZE_MAX - len && addr >= mm->brk &&
		    mm_range_free(mm, addr, addr + len))
			start = addr;
		else
			start = find_free_range(mm, len);
		if (!start)
			return -ENOMEM;
	}
	long err = map_anon(mm, start, start + len, prot);
	return err ? err : (long)start;
}

long sys_munmap(ulong addr, ulong len)
{
	if ((addr & (PAGE_SIZE - 1)) || !len || len > TASK_SIZE_MAX)
		return -EINVAL;
	len = ALIGN_UP(len, PAGE_SIZE);
	if (addr > TASK_SIZE_MAX - len)
		return -EINVAL;
	mm_unmap_range(current->mm, addr, addr + len);
	return 0;
}

long sys_mprotect(ulong addr, ulong len, ulong prot)
{
	struct mm *mm = current->mm;
	if (addr & (PAGE_SIZE - 1))
		return -EINVAL;
	if (prot & ~(ulong)PROT_VALID)
		return -EINVAL;
	if ((prot & PROT_GROWSDOWN) && (prot & PROT_GROWSUP))
		return -EINVAL;
	if (!len)
		return 0;
	if (len > TASK_SIZE_MAX)
		return -ENOMEM;
	len = ALIGN_UP(len, PAGE_SIZE);
	if (addr > TASK_SIZE_MAX - len)
		return -ENOMEM;
	if (!range_mapped(mm, addr, addr + len, true))
		return -ENOMEM;
	u64 flags = prot_to_pte(prot);
	for (unsigned long va = addr, stop, end = addr + len; va < end;) {
		u64 *pte = mm_walk_span(mm, va, end, false, &stop);
		if (!pte)
			return -ENOMEM; /* cannot be: every page was mapped */
		for (; va < stop; va += PAGE_SIZE, pte++) {
			u64 frame = *pte & PTE_ADDR_MASK;
			if (!frame && (flags & PTE_P)) {
				frame = alloc_page();
				if (!frame)
					return -ENOMEM;
			}
			*pte = frame | flags | (*pte & (PTE_A | PTE_D));
			invlpg(va);
		}
	}
	tlb_shootdown(mm); /* other CPUs running this process's threads */
	return 0;
}

/* Advice is accepted; MADV_DONTNEED / MADV_FREE give zero-filled pages from then on. */
long sys_madvise(ulong addr, ulong len, ulong advice)
{
	struct mm *mm = current->mm;
	if (addr & (PAGE_SIZE - 1))
		return -EINVAL;
	if (advice > 23 || (advice >= 5 && advice <= 7)) /* MADV_NORMAL..MADV_POPULATE_WRITE */
		return -EINVAL;
	if (len > TASK_SIZE_MAX)
		return -EINVAL;
	len = ALIGN_UP(len, PAGE_SIZE);
	if (addr > TASK_SIZE_MAX - len)
		return -EINVAL;
	if (!len)
		return 0;
	if (!range_mapped(mm, addr, addr + len, false))
		return -ENOMEM;
	if (advice != MADV_DONTNEED && advice != MADV_FREE)
		return 0;
	for (unsigned long va = addr, stop, end = addr + len; va < end;) {
		u64 *pte = mm_walk_span(mm, va, end, false, &stop);
		for (; pte && va < stop; va += PAGE_SIZE, pte++)
			if ((*pte & PTE_P) && (*pte & PTE_W))
				memset(phys_to_virt(*pte & PTE_ADDR_MASK), 0, PAGE_SIZE);
		va = stop;
	}
	return 0;
}
