/* ELF64 structures (the subset the loader reads). */
#ifndef GUEST_ELF_H
#define GUEST_ELF_H

#include "compiler.h"

#define ET_EXEC 2
#define ET_DYN 3
#define EM_X86_64 62
#define PT_LOAD 1
#define PT_INTERP 3
#define PT_PHDR 6
#define PF_X 1
#define PF_W 2
#define PF_R 4

typedef struct {
	unsigned char e_ident[16];
	u16 e_type;
	u16 e_machine;
	u32 e_version;
	u64 e_entry;
	u64 e_phoff;
	u64 e_shoff;
	u32 e_flags;
	u16 e_ehsize;
	u16 e_phentsize;
	u16 e_phnum;
	u16 e_shentsize;
	u16 e_shnum;
	u16 e_shstrndx;
} Elf64_Ehdr;

typedef struct {
	u32 p_type;
	u32 p_flags;
	u64 p_offset;
	u64 p_vaddr;
	u64 p_paddr;
	u64 p_filesz;
	u64 p_memsz;
	u64 p_align;
} Elf64_Phdr;

struct mm;

struct elf_image_info {
	unsigned long entry;
	unsigned long phdr; /* user address of the program headers (AT_PHDR) */
	unsigned long phnum;
	unsigned long load_bias;
	unsigned long brk;
};

/* Maps the static executable's PT_LOAD segments into mm; NULL on success, else the reason. */
const char *elf_load(struct mm *mm, const u8 *image, size_t size, struct elf_image_info *info);

#endif
