#include "time.h"
#include "console.h"
#include "cpu.h"
#include "vdso_data.h"

volatile u64 jiffies;
u64 tsc_khz;
static u64 tsc_at_boot;
static u64 tsc_mult; /* ns = (delta * tsc_mult) >> 32 */
static u64 realtime_at_boot_ns;

#define PIT_HZ 1193182UL
#define CALIBRATE_MS 10

static __wait_text u64 calibrate_tsc_khz(void)
{
	const u32 latch = PIT_HZ * CALIBRATE_MS / 1000;
	outb(0x61, (inb(0x61) & ~0x02) | 0x01); /* gate channel 2 on, speaker off */
	outb(0x43, 0xb0);			/* channel 2, lo/hi byte, mode 0 */
	outb(0x42, latch & 0xff);
	outb(0x42, latch >> 8);
	u64 t0 = rdtsc();
	for (u32 i = 0; i < 1000000 && !(inb(0x61) & 0x20); i++)
		delay_relax();
	u64 khz = (rdtsc() - t0) / CALIBRATE_MS;
	return khz ? khz : 1000000;
}

static u8 cmos_read(u8 reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

static unsigned bcd(u8 v, bool binary)
{
	return binary ? v : (v & 15) + (v >> 4) * 10;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static s64 days_from_civil(s64 y, unsigned m, unsigned d)
{
	y -= m <= 2;
	s64 era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (s64)doe - 719468;
}

static u64 read_rtc_seconds(void)
{
	for (int i = 0; i < 1000000 && (cmos_read(0x0a) & 0x80); i++)
		;
	u8 status_b = cmos_read(0x0b);
	bool binary = status_b & 0x04;
	unsigned sec = bcd(cmos_read(0x00), binary), min = bcd(cmos_read(0x02), binary);
	u8 hour_raw = cmos_read(0x04);
	unsigned hour = bcd(hour_raw & 0x7f, binary);
	if (!(status_b & 0x02) && (hour_raw & 0x80))
		hour = (hour % 12) + 12;
	unsigned day = bcd(cmos_read(0x07), binary), mon = bcd(cmos_read(0x08), binary);
	unsigned year = bcd(cmos_read(0x09), binary) + 2000;
	return days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
}

void time_init(void)
{
	tsc_khz = calibrate_tsc_khz();
	tsc_mult = (1000000UL << 32) / tsc_khz;
	tsc_at_boot = rdtsc();
	realtime_at_boot_ns = read_rtc_seconds() * NSEC_PER_SEC;
}

void vdso_fill_data(struct vdso_data *d)
{
	d->tsc_at_boot = tsc_at_boot;
	d->tsc_mult = tsc_mult;
	d->realtime_at_boot_ns = realtime_at_boot_ns;
}

u64 ktime_get_ns(void)
{
	u64 delta = rdtsc() - tsc_at_boot;
	return (u64)(((unsigned __int128)delta * tsc_mult) >> 32);
}

u64 ktime_get_real_ns(void)
{
	return realtime_at_boot_ns + ktime_get_ns();
}
