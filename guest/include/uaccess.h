/*
 * Access to user memory. Nothing is ever dereferenced at a user address: each page is looked
 * up in the process's page tables (present, U=1, and W=1 for writes) and reached through the
 * direct map, so a bad pointer yields -EFAULT and can never fault in the kernel.
 */
#ifndef GUEST_UACCESS_H
#define GUEST_UACCESS_H

#include "compiler.h"

struct mm;

static inline bool access_ok(unsigned long addr, unsigned long size)
{
	return size <= 0x7ffffffff000UL && addr <= 0x7ffffffff000UL - size;
}

int mm_copy_from_user(struct mm *mm, void *dst, unsigned long src, size_t n);
int mm_copy_to_user(struct mm *mm, unsigned long dst, const void *src, size_t n);
int copy_from_user(void *dst, unsigned long src, size_t n);
int copy_to_user(unsigned long dst, const void *src, size_t n);
int put_user_u64(u64 v, unsigned long dst);
int put_user_u32(u32 v, unsigned long dst);
int clear_user(unsigned long dst, size_t n);
/* Length of the string (< count), count if no NUL within count bytes, or -EFAULT. */
long strncpy_from_user(char *dst, unsigned long src, long count);
/* 0 if every page of [addr, addr+n) is accessible (writable when write), else -EFAULT. */
int user_range_ok(unsigned long addr, size_t n, bool write);
/* The kernel address of one user byte, valid up to the end of its page; NULL if inaccessible. */
void *user_page_ptr(struct mm *mm, unsigned long uaddr, bool write);

#endif
