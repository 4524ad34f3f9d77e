/*
 * The vDSO's data page (vvar), mapped read-only just below the vDSO in every process: what
 * the vDSO needs to turn the TSC into the kernel's clocks (kernel/time.c's values).
 */
#ifndef GUEST_VDSO_DATA_H
#define GUEST_VDSO_DATA_H

struct vdso_data {
	unsigned long tsc_at_boot;	   /* TSC when CLOCK_MONOTONIC was 0 */
	unsigned long tsc_mult;		   /* ns = (tsc delta * tsc_mult) >> 32 */
	unsigned long realtime_at_boot_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
};

/* getcpu: LSL of this user-readable GDT entry gives the CPU number (Linux's way). */
#define PER_CPU_SELECTOR (15 * 8 + 3) /* GDT_ENTRY_PER_CPU (segment.h) */

#endif
