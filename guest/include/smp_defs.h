/* SMP constants shared by C and assembly. */
#ifndef GUEST_SMP_DEFS_H
#define GUEST_SMP_DEFS_H

#define TRAMPOLINE_PHYS 0x8000 /* the SIPI vector is this >> 12 */

/* Local APIC vectors (the PIC's IRQs stay at 32..47) */
#define LAPIC_TIMER_VECTOR 0xec
#define RESCHED_VECTOR 0xfc
#define TLB_VECTOR 0xfd
#define SPURIOUS_VECTOR 0xff

#endif
