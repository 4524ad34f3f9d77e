/*
 * Mapping the vDSO into a process: a data page (struct vdso_data, read-only) and right above
 * it a copy of the vDSO image (read + execute), just below the mmap area. Both are the
 * process's own frames, freed with its address space.
 */
#include "errno.h"
#include "mm.h"
#include "string.h"
#include "time.h"
#include "vdso.h"
#include "vdso_data.h"

extern const char vdso_image_start[], vdso_image_end[];

static int map_copy(struct mm *mm, unsigned long va, const void *src, size_t len, u64 flags)
{
	int err = mm_map_zero_page(mm, va, PTE_P | PTE_U | flags);
	if (err)
		return err;
	u64 *pte = mm_walk(mm, va, false);
	memcpy(phys_to_virt(*pte & PTE_ADDR_MASK), src, len);
	return 0;
}

unsigned long vdso_map(struct mm *mm)
{
	size_t len = vdso_image_end - vdso_image_start;
	unsigned long pages = ALIGN_UP(len, PAGE_SIZE) / PAGE_SIZE;
	unsigned long vvar = USER_MMAP_TOP - (pages + 1) * PAGE_SIZE, base = vvar + PAGE_SIZE;
	struct vdso_data data;
	vdso_fill_data(&data);
	if (map_copy(mm, vvar, &data, sizeof(data), pte_nx_bit))
		return 0;
	for (unsigned long i = 0; i < pages; i++) {
		size_t chunk = MIN(len - i * PAGE_SIZE, PAGE_SIZE);
		if (map_copy(mm, base + i * PAGE_SIZE, vdso_image_start + i * PAGE_SIZE, chunk, 0))
			return 0;
	}
	mm->mmap_base = mm->mmap_hint = vvar; /* mmap searches below it */
	return base;
}
