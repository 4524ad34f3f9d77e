/* Physical pages, kernel page tables and per-process address spaces. */
#ifndef GUEST_MM_H
#define GUEST_MM_H

#include "compiler.h"
#include "layout.h"

#define PTE_P (1UL << 0)
#define PTE_W (1UL << 1)
#define PTE_U (1UL << 2)
#define PTE_A (1UL << 5)
#define PTE_D (1UL << 6)
#define PTE_PS (1UL << 7)
#define PTE_G (1UL << 8)
#define PTE_PROTNONE (1UL << 9) /* software: a mapped user page with P=0 (PROT_NONE) */
#define PTE_LAZY (1UL << 10)	/* software: mapped (lazymm=1), gets its frame on first touch */
#define PTE_MAPPED (PTE_P | PTE_PROTNONE | PTE_LAZY) /* any of these: the page is mapped */
#define PTE_NX (1UL << 63)
#define PTE_ADDR_MASK 0x000ffffffffff000UL

static inline void *phys_to_virt(u64 phys)
{
	return (void *)(phys + PAGE_OFFSET);
}
static inline u64 virt_to_phys(const void *v)
{
	u64 a = (u64)v;
	return a >= __START_KERNEL_map ? a - __START_KERNEL_map : a - PAGE_OFFSET;
}

struct mm {
	u64 *pml4; /* through the direct map */
	unsigned long start_brk, brk;
	unsigned long mmap_base; /* top-down search for mmap starts below this */
	unsigned long mmap_hint; /* where the last top-down search ended */
	unsigned long stack_top; /* the stack may grow down to stack_top - USER_STACK_MAX */
	unsigned long nr_pages;	 /* user pages mapped */
};

extern u64 pte_nx_bit; /* PTE_NX when the CPU supports NX, else 0 */

void mem_init(u64 reserved_end_phys, u64 mem_end_phys);
void paging_init(void);
u64 alloc_page(void); /* a zeroed page (physical address), 0 when out of memory */
void free_page(u64 phys);
u64 alloc_pages_contig(unsigned n); /* never freed back; used for kernel stacks */
unsigned long nr_free_pages(void);

struct mm *mm_create(void);
void mm_destroy(struct mm *mm);
void mm_activate(struct mm *mm); /* CR3 = mm's tables, or the kernel's for NULL */

u64 *mm_walk(struct mm *mm, unsigned long va, bool alloc);
#define PT_SPAN (1UL << 21) /* what one page table maps */
/*
 * va's PTE with one walk, and in *stop where its page table ends (or end, if sooner): the PTEs
 * of [va, *stop) follow it. NULL if a table is absent (not alloc), with *stop past all that
 * table would map; NULL with *stop == va when a table cannot be made, == end when va is not a
 * user address.
 */
u64 *mm_walk_span(struct mm *mm, unsigned long va, unsigned long end, bool alloc,
		  unsigned long *stop);
bool mm_mapped(struct mm *mm, unsigned long va);
int mm_map_zero_page(struct mm *mm, unsigned long va, u64 pte_flags);
int mm_map_range(struct mm *mm, unsigned long start, unsigned long end, u64 pte_flags);
void mm_unmap_range(struct mm *mm, unsigned long start, unsigned long end);
bool mm_range_free(struct mm *mm, unsigned long start, unsigned long end);
/* Address of the lowest mapped page in [start, end), or end. */
unsigned long mm_first_mapped(struct mm *mm, unsigned long start, unsigned long end);
u64 prot_to_pte(unsigned long prot);
/* Make a missing page appear if the address is in a region that grows on demand (the stack). */
bool mm_fault_in(struct mm *mm, unsigned long va);
/* Only the lazymm=1 part of mm_fault_in: a heap page or a PTE_LAZY page gets its frame. */
bool mm_fault_in_lazy(struct mm *mm, unsigned long va);

#endif
