/* The vDSO in every process (kernel/vdso.c, vdso/vdso.c). */
#ifndef GUEST_VDSO_H
#define GUEST_VDSO_H

struct mm;

/* Map the data page and the vDSO; returns its address (AT_SYSINFO_EHDR), 0 without memory. */
unsigned long vdso_map(struct mm *mm);

#endif
