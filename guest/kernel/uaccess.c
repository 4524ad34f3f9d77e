#include "uaccess.h"
#include "errno.h"
#include "mm.h"
#include "string.h"
#include "task.h"

void *user_page_ptr(struct mm *mm, unsigned long uaddr, bool write)
{
	if (!mm || uaddr >= TASK_SIZE_MAX)
		return NULL;
	u64 *pte = mm_walk(mm, uaddr, false);
	if (!pte || !(*pte & PTE_P)) {
		if (!mm_fault_in(mm, uaddr))
			return NULL;
		pte = mm_walk(mm, uaddr, false);
		if (!pte || !(*pte & PTE_P))
			return NULL;
	}
	if (!(*pte & PTE_U) || (write && !(*pte & PTE_W)))
		return NULL;
	*pte |= PTE_A | (write ? PTE_D : 0);
	return (char *)phys_to_virt(*pte & PTE_ADDR_MASK) + (uaddr & (PAGE_SIZE - 1));
}

static size_t chunk(unsigned long uaddr, size_t n)
{
	return MIN(n, PAGE_SIZE - (uaddr & (PAGE_SIZE - 1)));
}

int mm_copy_from_user(struct mm *mm, void *dst, unsigned long src, size_t n)
{
	if (!access_ok(src, n))
		return -EFAULT;
	while (n) {
		size_t c = chunk(src, n);
		void *p = user_page_ptr(mm, src, false);
		if (!p)
			return -EFAULT;
		memcpy(dst, p, c);
		dst = (char *)dst + c;
		src += c;
		n -= c;
	}
	return 0;
}

int mm_copy_to_user(struct mm *mm, unsigned long dst, const void *src, size_t n)
{
	if (!access_ok(dst, n))
		return -EFAULT;
	while (n) {
		size_t c = chunk(dst, n);
		void *p = user_page_ptr(mm, dst, true);
		if (!p)
			return -EFAULT;
		memcpy(p, src, c);
		src = (const char *)src + c;
		dst += c;
		n -= c;
	}
	return 0;
}

int copy_from_user(void *dst, unsigned long src, size_t n)
{
	return mm_copy_from_user(current->mm, dst, src, n);
}

int copy_to_user(unsigned long dst, const void *src, size_t n)
{
	return mm_copy_to_user(current->mm, dst, src, n);
}

int put_user_u64(u64 v, unsigned long dst)
{
	return copy_to_user(dst, &v, sizeof(v));
}

int put_user_u32(u32 v, unsigned long dst)
{
	return copy_to_user(dst, &v, sizeof(v));
}

int clear_user(unsigned long dst, size_t n)
{
	if (!access_ok(dst, n))
		return -EFAULT;
	while (n) {
		size_t c = chunk(dst, n);
		void *p = user_page_ptr(current->mm, dst, true);
		if (!p)
			return -EFAULT;
		memset(p, 0, c);
		dst += c;
		n -= c;
	}
	return 0;
}

long strncpy_from_user(char *dst, unsigned long src, long count)
{
	long i = 0;
	while (i < count) {
		const char *p = user_page_ptr(current->mm, src + i, false);
		if (!p)
			return -EFAULT;
		size_t c = chunk(src + i, count - i);
		for (size_t j = 0; j < c; j++, i++) {
			dst[i] = p[j];
			if (!p[j])
				return i;
		}
	}
	return count;
}

int user_range_ok(unsigned long addr, size_t n, bool write)
{
	if (!access_ok(addr, n))
		return -EFAULT;
	if (!n)
		return 0;
	for (unsigned long va = ALIGN_DOWN(addr, PAGE_SIZE); va < addr + n; va += PAGE_SIZE)
		if (!user_page_ptr(current->mm, MAX(va, addr), write))
			return -EFAULT;
	return 0;
}
