/* The vDSO (build/vdso/vdso.so, from vdso/vdso.c) inside the kernel image: copied into every process. */
	.section .rodata
	.balign 4096
	.globl vdso_image_start, vdso_image_end
vdso_image_start:
	.incbin VDSO_SO
vdso_image_end:
	.balign 8
