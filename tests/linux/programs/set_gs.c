/*
 * A user GS base: arch_prctl(ARCH_SET_GS) to a buffer, read back through %gs, a sleep so the
 * kernel switches away from this task and back (its GS reloaded at the switch), then
 * ARCH_GET_GS. Prints what it read, so a run is checked against the host's.
 */
#include <asm/prctl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long gs_block[4] = {0x1234, 0, 0, 0};

int main(void)
{
	unsigned long back = 0;
	long via_gs;
	struct timespec nap = {0, 20 * 1000 * 1000};
	if (syscall(SYS_arch_prctl, ARCH_SET_GS, (unsigned long)gs_block) != 0)
		return 1;
	__asm__ volatile("mov %%gs:0, %0" : "=r"(via_gs));
	nanosleep(&nap, NULL);
	syscall(SYS_arch_prctl, ARCH_GET_GS, &back);
	printf("gs %s, read %#lx\n", back == (unsigned long)gs_block ? "kept" : "lost", via_gs);
	return back == (unsigned long)gs_block ? 0 : 2;
}
