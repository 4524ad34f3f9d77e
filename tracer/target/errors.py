"""Errors raised by the target layer; each carries a one-line message for the user."""


class TargetError(Exception):
    """Anything that went wrong with QEMU or gdb."""


class ToolMissing(TargetError):
    """qemu-system-x86_64 or gdb is not installed."""


class GdbError(TargetError):
    """gdb refused a command (an MI ^error)."""


class GdbDied(TargetError):
    """gdb exited or closed its pipes."""


class QemuDied(TargetError):
    """QEMU exited before or during the capture."""


class TargetTimeout(TargetError):
    """Something did not answer in time (gdb, the gdbstub socket, the guest)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so `with` blocks unwind and clean up."""
