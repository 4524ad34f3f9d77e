/* Virtual memory layout shared by C and assembly (Linux x86-64 values where they exist). */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

#ifdef __ASSEMBLER__
#define _UL(x) x
#else
#define _UL(x) x##UL
#endif

#define PAGE_SIZE _UL(4096)
#define PAGE_SHIFT 12
#define PAGE_MASK (~(PAGE_SIZE - 1))

/* Kernel image: linked at __START_KERNEL_map + physical address (loaded at 1 MiB). */
#define __START_KERNEL_map _UL(0xffffffff80000000)
#define KERNEL_LOAD_PHYS _UL(0x100000)
/* All physical memory (up to DIRECT_MAP_SIZE) is mapped here, like Linux's page_offset_base. */
#define PAGE_OFFSET _UL(0xffff888000000000)
#define DIRECT_MAP_SIZE _UL(0x40000000)

/* User space: the low canonical half minus its last page, as in Linux. */
#define TASK_SIZE_MAX _UL(0x7ffffffff000)
#define USER_STACK_TOP _UL(0x7ffffffff000)
#define USER_STACK_MAX (_UL(8) << 20)
#define USER_MMAP_TOP _UL(0x7ffff7fff000)
#define ELF_ET_DYN_BASE _UL(0x555555554000)
#define MMAP_MIN_ADDR _UL(0x10000)

#define KSTACK_PAGES 4
#define KSTACK_SIZE (KSTACK_PAGES * PAGE_SIZE)

#endif
