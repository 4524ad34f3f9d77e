"""Pure decoders: the syscall table and strace-style lines, errno, flags, pt_regs, MSRs.

No I/O and no third-party imports: every function takes register values and guest memory the
capture already read, and returns text or small records. The gdb agent imports this package
inside gdb's Python, so it may import the standard library, itself and `tracer.events` only.
The tables are data files beside the modules, read once at import: `syscalls.tbl` (the syscall
table), `flags.tbl` (flag and enum values, ioctl requests), `structs.tbl` (structure layouts).
"""

from tracer.decode.errno import ERRNO, errno_message, errno_name, format_errno
from tracer.decode.flags import TABLES, format_flags
from tracer.decode.msr import (
    Selector,
    StarSelectors,
    decode_efer,
    decode_fmask,
    decode_rflags,
    decode_selector,
    decode_star,
    describe_msr,
    msr_name,
)
from tracer.decode.ptregs import (
    LINUX_PT_REGS,
    PT_REGS_SYSCALL_ARGS,
    check_pt_regs_at_entry,
    decode_pt_regs,
    pt_regs_syscall_args,
    pt_regs_syscall_nr,
    pt_regs_user_flags,
    pt_regs_user_ip,
    pt_regs_user_sp,
)
from tracer.decode.strace import (
    MemRead,
    entry_reads,
    exit_reads,
    format_args,
    format_return,
    format_syscall,
)
from tracer.decode.syscall_table import (
    SYSCALLS,
    Arg,
    ArgKind,
    RetKind,
    SyscallSpec,
    syscall_name,
    syscall_number,
    syscall_spec,
)

__all__ = [
    "ERRNO",
    "LINUX_PT_REGS",
    "PT_REGS_SYSCALL_ARGS",
    "SYSCALLS",
    "TABLES",
    "Arg",
    "ArgKind",
    "MemRead",
    "RetKind",
    "Selector",
    "StarSelectors",
    "SyscallSpec",
    "check_pt_regs_at_entry",
    "decode_efer",
    "decode_fmask",
    "decode_pt_regs",
    "decode_rflags",
    "decode_selector",
    "decode_star",
    "describe_msr",
    "entry_reads",
    "errno_message",
    "errno_name",
    "exit_reads",
    "format_args",
    "format_errno",
    "format_flags",
    "format_return",
    "format_syscall",
    "msr_name",
    "pt_regs_syscall_args",
    "pt_regs_syscall_nr",
    "pt_regs_user_flags",
    "pt_regs_user_ip",
    "pt_regs_user_sp",
    "syscall_name",
    "syscall_number",
    "syscall_spec",
]
