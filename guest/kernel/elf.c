#include "elf.h"
#include "errno.h"
#include "mm.h"
#include "string.h"
#include "uaccess.h"
#include "uapi.h"

/* Copy into a freshly built address space regardless of page permissions. */
static void mm_poke(struct mm *mm, unsigned long va, const void *src, size_t n)
{
	while (n) {
		size_t c = MIN(n, PAGE_SIZE - (va & (PAGE_SIZE - 1)));
		u64 *pte = mm_walk(mm, va, false);
		memcpy((char *)phys_to_virt(*pte & PTE_ADDR_MASK) + (va & (PAGE_SIZE - 1)), src, c);
		va += c;
		src = (const char *)src + c;
		n -= c;
	}
}

static const char *check_header(const Elf64_Ehdr *eh, size_t size)
{
	if (size < sizeof(*eh) || memcmp(eh->e_ident, "\177ELF", 4))
		return "not an ELF file";
	if (eh->e_ident[4] != 2 || eh->e_ident[5] != 1 || eh->e_machine != EM_X86_64)
		return "not an x86-64 little-endian ELF64 file";
	if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
		return "not an executable";
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > 64 ||
	    eh->e_phoff > size || size - eh->e_phoff < eh->e_phnum * sizeof(Elf64_Phdr))
		return "bad program headers";
	return NULL;
}

static const char *map_segment(struct mm *mm, const u8 *image, size_t size, const Elf64_Phdr *ph,
			       unsigned long bias)
{
	if (ph->p_filesz > ph->p_memsz || ph->p_offset > size || size - ph->p_offset < ph->p_filesz)
		return "segment outside the file";
	if ((ph->p_vaddr - ph->p_offset) & (PAGE_SIZE - 1))
		return "misaligned segment";
	unsigned long start = ph->p_vaddr + bias;
	if (ph->p_memsz > (1UL << 30) || !access_ok(start, ph->p_memsz) || start < MMAP_MIN_ADDR)
		return "segment outside user space";
	u64 flags = PTE_P | PTE_U;
	if (ph->p_flags & PF_W)
		flags |= PTE_W;
	if (!(ph->p_flags & PF_X))
		flags |= pte_nx_bit;
	unsigned long end = ALIGN_UP(start + ph->p_memsz, PAGE_SIZE);
	if ((end - ALIGN_DOWN(start, PAGE_SIZE)) / PAGE_SIZE + 64 > nr_free_pages())
		return "out of memory";
	for (unsigned long va = ALIGN_DOWN(start, PAGE_SIZE); va < end; va += PAGE_SIZE) {
		u64 *pte = mm_walk(mm, va, false);
		if (pte && (*pte & PTE_P)) {
			/* a page shared with the previous segment gets the union of permissions */
			*pte |= flags & (PTE_W | PTE_U);
			if (!(flags & PTE_NX))
				*pte &= ~PTE_NX;
			continue;
		}
		if (mm_map_zero_page(mm, va, flags))
			return "out of memory";
	}
	mm_poke(mm, start, image + ph->p_offset, ph->p_filesz);
	return NULL;
}

const char *elf_load(struct mm *mm, const u8 *image, size_t size, struct elf_image_info *info)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)image;
	const char *err = check_header(eh, size);
	if (err)
		return err;
	Elf64_Phdr phdrs[64];
	memcpy(phdrs, image + eh->e_phoff, eh->e_phnum * sizeof(Elf64_Phdr));

	unsigned long bias = eh->e_type == ET_DYN ? ELF_ET_DYN_BASE : 0;
	unsigned long phdr_addr = 0, brk = 0;
	int nr_load = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = &phdrs[i];
		if (ph->p_type == PT_INTERP)
			return "dynamically linked (PT_INTERP): only static executables can run";
		if (ph->p_type == PT_PHDR)
			phdr_addr = ph->p_vaddr + bias;
	}
	for (int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = &phdrs[i];
		if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
			continue;
		err = map_segment(mm, image, size, ph, bias);
		if (err)
			return err;
		nr_load++;
		if (!phdr_addr && eh->e_phoff >= ph->p_offset &&
		    eh->e_phoff - ph->p_offset < ph->p_filesz)
			phdr_addr = ph->p_vaddr + bias + (eh->e_phoff - ph->p_offset);
		brk = MAX(brk, ph->p_vaddr + bias + ph->p_memsz);
	}
	if (!nr_load)
		return "no loadable segments";
	info->entry = eh->e_entry + bias;
	if (info->entry >= TASK_SIZE_MAX) /* the first IRET would fault in ring 0 */
		return "entry point outside user space";
	info->phdr = phdr_addr;
	info->phnum = eh->e_phnum;
	info->load_bias = bias;
	info->brk = ALIGN_UP(brk, PAGE_SIZE);
	return NULL;
}
