/* Exits with the status given as its argument (default 3): qemu/boot must pass it on. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	int status = argc > 1 ? atoi(argv[1]) : 3;
	printf("exiting with %d\n", status);
	return status;
}
