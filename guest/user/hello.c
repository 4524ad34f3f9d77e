/* The smallest real program: stdio through the C library, then exit(0). */
#include <stdio.h>

int main(void)
{
	printf("Hello, world!\n");
	return 0;
}
