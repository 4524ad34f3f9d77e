"""Tracing a stock Linux kernel: its packages, symbols, initramfs and boot."""
