"""tracer: watch an x86-64 kernel cross the user/kernel boundary through QEMU and gdb."""

__version__ = "0.1.0"
