#include "mm.h"
#include "boot.h"
#include "console.h"
#include "cpu.h"
#include "errno.h"
#include "smp.h"
#include "string.h"
#include "uapi.h"

u64 pte_nx_bit;

/* Physical pages: a bump pointer over free RAM plus a free list threaded through freed pages. */
static u64 bump_next, bump_end;
static u64 free_list;
static unsigned long free_list_len;

extern char _text[], _etext[], _rodata[], _erodata[], _data[], _end[];

/* Kernel page tables (the upper half, shared by every address space). */
static u64 kernel_pml4[512] __aligned(4096);
static u64 dm_pdpt[512] __aligned(4096);
static u64 dm_pd[512] __aligned(4096);
static u64 dm_pd_apic[512] __aligned(4096); /* the 4th GiB: the local APIC's page, uncached */
static u64 kimg_pdpt[512] __aligned(4096);
static u64 kimg_pd[512] __aligned(4096);
static u64 kimg_pt[12][512] __aligned(4096); /* 24 MiB: the image with gtlog_mem (16 MiB) */

void mem_init(u64 reserved_end_phys, u64 mem_end_phys)
{
	bump_next = ALIGN_UP(reserved_end_phys, PAGE_SIZE);
	bump_end = MIN(ALIGN_DOWN(mem_end_phys, PAGE_SIZE), DIRECT_MAP_SIZE);
	if (bump_next >= bump_end)
		panic("no free memory (reserved up to %lx, RAM ends at %lx)", reserved_end_phys,
		      mem_end_phys);
}

u64 alloc_page(void)
{
	u64 p;
	if (free_list) {
		p = free_list;
		free_list = *(u64 *)phys_to_virt(p);
		free_list_len--;
	} else if (bump_next < bump_end) {
		p = bump_next;
		bump_next += PAGE_SIZE;
	} else {
		return 0;
	}
	memset(phys_to_virt(p), 0, PAGE_SIZE);
	return p;
}

void free_page(u64 phys)
{
	*(u64 *)phys_to_virt(phys) = free_list;
	free_list = phys;
	free_list_len++;
}

u64 alloc_pages_contig(unsigned n)
{
	if (bump_next + n * PAGE_SIZE > bump_end)
		return 0;
	u64 p = bump_next;
	bump_next += n * PAGE_SIZE;
	memset(phys_to_virt(p), 0, n * PAGE_SIZE);
	return p;
}

unsigned long nr_free_pages(void)
{
	return free_list_len + (bump_end - bump_next) / PAGE_SIZE;
}

/*
 * Final kernel mappings: the direct map (2 MiB pages, NX) and the kernel image with 4 KiB
 * pages whose permissions follow its sections. Nothing is mapped in the lower half.
 */
void paging_init(void)
{
	u64 nx = pte_nx_bit;
	for (int i = 0; i < 512; i++)
		dm_pd[i] = ((u64)i << 21) | PTE_P | PTE_W | PTE_PS | PTE_G | nx;
	dm_pdpt[0] = virt_to_phys(dm_pd) | PTE_P | PTE_W;
	/* 0xfee00000 (local APIC) at PAGE_OFFSET + physical, 2 MiB, PCD | PWT */
	dm_pd_apic[(0xfee00000UL >> 21) & 511] = 0xfee00000UL | PTE_P | PTE_W | PTE_PS | PTE_G |
						 (1UL << 4) | (1UL << 3) | nx;
	dm_pdpt[3] = virt_to_phys(dm_pd_apic) | PTE_P | PTE_W;
	kernel_pml4[(PAGE_OFFSET >> 39) & 511] = virt_to_phys(dm_pdpt) | PTE_P | PTE_W;

	u64 start = ALIGN_DOWN((u64)_text, PAGE_SIZE), end = ALIGN_UP((u64)_end, PAGE_SIZE);
	if (end - __START_KERNEL_map > sizeof(kimg_pt) / 8 * PAGE_SIZE)
		panic("kernel image too large for its page tables");
	for (u64 va = start; va < end; va += PAGE_SIZE) {
		u64 flags = PTE_P | PTE_G;
		if (va >= (u64)_rodata)
			flags |= nx;
		if (va >= (u64)_data)
			flags |= PTE_W;
		u64 idx = (va - __START_KERNEL_map) >> PAGE_SHIFT;
		kimg_pt[idx / 512][idx % 512] = (va - __START_KERNEL_map) | flags;
	}
	for (unsigned i = 0; i < ARRAY_SIZE(kimg_pt); i++)
		kimg_pd[i] = virt_to_phys(kimg_pt[i]) | PTE_P | PTE_W;
	kimg_pdpt[510] = virt_to_phys(kimg_pd) | PTE_P | PTE_W;
	kernel_pml4[511] = virt_to_phys(kimg_pdpt) | PTE_P | PTE_W;
	write_cr3(virt_to_phys(kernel_pml4));
}

struct mm *mm_create(void)
{
	u64 p = alloc_page();
	if (!p)
		return NULL;
	struct mm *mm = phys_to_virt(p); /* struct mm lives in its own page, after the PML4 */
	u64 t = alloc_page();
	if (!t) {
		free_page(p);
		return NULL;
	}
	mm->pml4 = phys_to_virt(t);
	memcpy(mm->pml4 + 256, kernel_pml4 + 256, 256 * sizeof(u64));
	mm->mmap_base = mm->mmap_hint = USER_MMAP_TOP;
	mm->stack_top = USER_STACK_TOP;
	return mm;
}

static void free_table(u64 *table, int level)
{
	for (int i = 0; i < 512; i++) {
		u64 e = table[i];
		if (!(e & PTE_MAPPED))
			continue;
		if (level > 1)
			free_table(phys_to_virt(e & PTE_ADDR_MASK), level - 1);
		else if (e & PTE_ADDR_MASK) /* PROT_NONE reservations have no frame */
			free_page(e & PTE_ADDR_MASK);
	}
	free_page(virt_to_phys(table));
}

void mm_destroy(struct mm *mm)
{
	for (int i = 0; i < 256; i++)
		if (mm->pml4[i] & PTE_P)
			free_table(phys_to_virt(mm->pml4[i] & PTE_ADDR_MASK), 3);
	free_page(virt_to_phys(mm->pml4));
	free_page(virt_to_phys(mm));
}

void mm_activate(struct mm *mm)
{
	write_cr3(virt_to_phys(mm ? mm->pml4 : kernel_pml4));
}

/*
 * va's PTE, the tables above it made if alloc. NULL if va is not a user address, if a table
 * cannot be made, or (not alloc) if one is absent: then *absent_shift says which level (the
 * range that table would map is 1 << *absent_shift bytes).
 */
static __always_inline u64 *walk(struct mm *mm, unsigned long va, bool alloc, int *absent_shift)
{
	*absent_shift = 0;
	if (va >= TASK_SIZE_MAX)
		return NULL;
	u64 *table = mm->pml4;
	for (int shift = 39; shift > 12; shift -= 9) {
		u64 *e = &table[(va >> shift) & 511];
		if (!(*e & PTE_P)) {
			if (!alloc) {
				*absent_shift = shift;
				return NULL;
			}
			u64 p = alloc_page();
			if (!p)
				return NULL;
			*e = p | PTE_P | PTE_W |
			     PTE_U; /* leaf entries carry the real permissions */
		}
		table = phys_to_virt(*e & PTE_ADDR_MASK);
	}
	return &table[(va >> 12) & 511];
}

u64 *mm_walk(struct mm *mm, unsigned long va, bool alloc)
{
	int absent;
	return walk(mm, va, alloc, &absent);
}

u64 *mm_walk_span(struct mm *mm, unsigned long va, unsigned long end, bool alloc,
		  unsigned long *stop)
{
	int absent;
	u64 *pte = walk(mm, va, alloc, &absent);
	if (pte)
		*stop = MIN(end, ALIGN_DOWN(va, PT_SPAN) + PT_SPAN);
	else if (absent)
		*stop = MIN(end, ALIGN_DOWN(va, 1UL << absent) + (1UL << absent));
	else
		*stop = va >= TASK_SIZE_MAX ? end : va; /* not a user address, or out of memory */
	return pte;
}

bool mm_mapped(struct mm *mm, unsigned long va)
{
	u64 *pte = mm_walk(mm, va, false);
	return pte && (*pte & PTE_MAPPED);
}

/* A fresh zeroed frame at *pte (the frame it had goes back). */
static __always_inline int map_zero_at(struct mm *mm, u64 *pte, u64 pte_flags)
{
	if ((*pte & PTE_MAPPED) && (*pte & PTE_ADDR_MASK)) {
		free_page(*pte & PTE_ADDR_MASK);
		mm->nr_pages--;
	}
	u64 p = alloc_page();
	if (!p) {
		*pte = 0;
		return -ENOMEM;
	}
	*pte = p | pte_flags;
	mm->nr_pages++;
	return 0;
}

int mm_map_zero_page(struct mm *mm, unsigned long va, u64 pte_flags)
{
	u64 *pte = mm_walk(mm, va, true);
	return pte ? map_zero_at(mm, pte, pte_flags) : -ENOMEM;
}

/* One walk per page table, not per page: an 8 MiB thread stack is 4 walks, not 2,048. */
int mm_map_range(struct mm *mm, unsigned long start, unsigned long end, u64 pte_flags)
{
	if ((end - start) / PAGE_SIZE + 64 > nr_free_pages())
		return -ENOMEM;
	unsigned long va = start, stop;
	while (va < end) {
		u64 *pte = mm_walk_span(mm, va, end, true, &stop);
		int err = pte ? 0 : -ENOMEM;
		for (; !err && va < stop; va += PAGE_SIZE, pte++)
			err = map_zero_at(mm, pte, pte_flags);
		if (err) {
			mm_unmap_range(mm, start, va);
			return err;
		}
	}
	return 0;
}

/*
 * Frames unmapped from an address space another CPU may be running: they go back to the
 * allocator only after that CPU's TLB forgot them (a stale entry would let it write into a
 * free page).
 */
struct frame_batch {
	u64 frames[64];
	int n;
};

static void free_batch(struct mm *mm, struct frame_batch *b)
{
	tlb_shootdown(mm);
	for (int i = 0; i < b->n; i++)
		free_page(b->frames[i]);
	b->n = 0;
}

void mm_unmap_range(struct mm *mm, unsigned long start, unsigned long end)
{
	bool active = read_cr3() == virt_to_phys(mm->pml4);
	struct frame_batch batch;
	unsigned long next;
	batch.n = 0;
	end = MIN(end, TASK_SIZE_MAX);
	for (unsigned long va = start; va < end;) {
		u64 *pte = mm_walk_span(mm, va, end, false, &next);
		for (; pte && va < next; va += PAGE_SIZE, pte++) {
			if (!(*pte & PTE_MAPPED))
				continue;
			u64 frame = *pte & PTE_ADDR_MASK;
			*pte = 0;
			if (active)
				invlpg(va);
			if (!frame)
				continue;
			mm->nr_pages--;
			if (nr_cpus == 1) {
				free_page(frame);
				continue;
			}
			batch.frames[batch.n++] = frame;
			if (batch.n == (int)ARRAY_SIZE(batch.frames))
				free_batch(mm, &batch);
		}
		va = next;
	}
	if (batch.n)
		free_batch(mm, &batch);
}

unsigned long mm_first_mapped(struct mm *mm, unsigned long start, unsigned long end)
{
	unsigned long next, limit = MIN(end, TASK_SIZE_MAX);
	for (unsigned long va = start; va < limit; va = next) {
		u64 *pte = mm_walk_span(mm, va, limit, false, &next);
		for (; pte && va < next; va += PAGE_SIZE, pte++)
			if (*pte & PTE_MAPPED)
				return va;
	}
	return end;
}

bool mm_range_free(struct mm *mm, unsigned long start, unsigned long end)
{
	return mm_first_mapped(mm, start, end) >= end;
}

u64 prot_to_pte(unsigned long prot)
{
	if (!(prot & (PROT_READ | PROT_WRITE | PROT_EXEC)))
		return PTE_PROTNONE | PTE_U;
	u64 f = PTE_P | PTE_U;
	if (prot & PROT_WRITE)
		f |= PTE_W;
	if (!(prot & PROT_EXEC))
		f |= pte_nx_bit;
	return f;
}

/* lazymm=1: the heap between start_brk and brk, and PTE_LAZY pages, appear on first touch. */
bool mm_fault_in_lazy(struct mm *mm, unsigned long va)
{
	u64 *pte = mm_walk(mm, va, false);
	if (pte && (*pte & PTE_LAZY) && !(*pte & PTE_P)) {
		u64 frame = alloc_page();
		if (!frame)
			return false;
		*pte = frame | (*pte & ~PTE_LAZY) | PTE_P;
		mm->nr_pages++;
		return true;
	}
	if (boot_params.lazymm && va >= ALIGN_DOWN(mm->start_brk, PAGE_SIZE) &&
	    va < ALIGN_UP(mm->brk, PAGE_SIZE) && !mm_mapped(mm, va))
		return mm_map_zero_page(mm, va, PTE_P | PTE_U | PTE_W | pte_nx_bit) == 0;
	return false;
}

bool mm_fault_in(struct mm *mm, unsigned long va)
{
	va = ALIGN_DOWN(va, PAGE_SIZE);
	if (mm_fault_in_lazy(mm, va))
		return true;
	if (va >= mm->stack_top || va < mm->stack_top - USER_STACK_MAX)
		return false;
	if (mm_mapped(mm, va))
		return false;
	return mm_map_zero_page(mm, va, PTE_P | PTE_U | PTE_W | pte_nx_bit) == 0;
}
