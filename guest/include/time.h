/* Time: the TSC calibrated against the PIT, the CMOS clock for wall time, a PIT tick. */
#ifndef GUEST_TIME_H
#define GUEST_TIME_H

#include "compiler.h"

#define HZ 100
#define NSEC_PER_SEC 1000000000UL
#define TICK_NSEC (NSEC_PER_SEC / HZ)

extern volatile u64 jiffies;
extern u64 tsc_khz;

void time_init(void);
u64 ktime_get_ns(void);	     /* monotonic, since boot */
u64 ktime_get_real_ns(void); /* wall clock, since the epoch */
struct vdso_data;
void vdso_fill_data(struct vdso_data *d); /* the vDSO's clock parameters */

#endif
