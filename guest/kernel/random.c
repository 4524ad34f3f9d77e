#include "random.h"
#include "cpu.h"
#include "string.h"

static u64 s[4];

static u64 rotl(u64 x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static u64 splitmix(u64 *x)
{
	u64 z = (*x += 0x9e3779b97f4a7c15UL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
	return z ^ (z >> 31);
}

void random_init(void)
{
	u64 seed = rdtsc();
	if (boot_cpu.rdrand) {
		u64 r;
		unsigned char ok;
		__asm__ volatile("rdrand %0; setc %1" : "=r"(r), "=qm"(ok));
		if (ok)
			seed ^= r;
	}
	for (int i = 0; i < 4; i++)
		s[i] = splitmix(&seed);
}

u64 random_u64(void)
{
	u64 result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

void get_random_bytes(void *buf, size_t n)
{
	u8 *p = buf;
	while (n) {
		u64 r = random_u64();
		size_t c = MIN(n, sizeof(r));
		memcpy(p, &r, c);
		p += c;
		n -= c;
	}
}
