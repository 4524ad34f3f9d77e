/* A non-cryptographic PRNG (xoshiro256**) seeded from the TSC and RDRAND when present. */
#ifndef GUEST_RANDOM_H
#define GUEST_RANDOM_H

#include "compiler.h"

void random_init(void);
u64 random_u64(void);
void get_random_bytes(void *buf, size_t n);

#endif
