"""Process, signal, time and futex values: signals, rlimits, arch_prctl codes, clocks, clone
flags, wait options, prctl options, futex operations."""

from __future__ import annotations

from typing import Final

from tracer.decode.xlat import (
    EnumTable,
    enum_table,
    flag_table,
    format_enum,
    format_flags,
    format_hex,
)

_SIGNALS: Final = (
    "SIGHUP SIGINT SIGQUIT SIGILL SIGTRAP SIGABRT SIGBUS SIGFPE SIGKILL SIGUSR1 SIGSEGV SIGUSR2 "
    "SIGPIPE SIGALRM SIGTERM SIGSTKFLT SIGCHLD SIGCONT SIGSTOP SIGTSTP SIGTTIN SIGTTOU SIGURG "
    "SIGXCPU SIGXFSZ SIGVTALRM SIGPROF SIGWINCH SIGIO SIGPWR SIGSYS SIGRTMIN"
).split()

SIG: Final = enum_table(
    "SIG",
    {
        **{number: name for number, name in enumerate(_SIGNALS, start=1)},
        **{32 + n: f"SIGRT_{n}" for n in range(1, 33)},
    },
    unknown=None,
)
"""Signal numbers as strace names them: 32 is SIGRTMIN, 33..64 SIGRT_1..SIGRT_32, others decimal."""

SIGPROCMASK: Final = enum_table(
    "SIGPROCMASK", {0: "SIG_BLOCK", 1: "SIG_UNBLOCK", 2: "SIG_SETMASK"}, unknown="SIG_???"
)

RLIMIT: Final = enum_table(
    "RLIMIT",
    {
        number: f"RLIMIT_{name}"
        for number, name in enumerate(
            "CPU FSIZE DATA STACK CORE RSS NPROC NOFILE MEMLOCK AS LOCKS SIGPENDING MSGQUEUE "
            "NICE RTPRIO RTTIME".split()
        )
    },
)

ARCH_SET_GS: Final = 0x1001
ARCH_SET_FS: Final = 0x1002
ARCH: Final = enum_table(
    "ARCH",
    {
        ARCH_SET_GS: "ARCH_SET_GS",
        ARCH_SET_FS: "ARCH_SET_FS",
        0x1003: "ARCH_GET_FS",
        0x1004: "ARCH_GET_GS",
        0x1011: "ARCH_GET_CPUID",
        0x1012: "ARCH_SET_CPUID",
        0x1021: "ARCH_GET_XCOMP_SUPP",
        0x1022: "ARCH_GET_XCOMP_PERM",
        0x1023: "ARCH_REQ_XCOMP_PERM",
        0x1024: "ARCH_GET_XCOMP_GUEST_PERM",
        0x1025: "ARCH_REQ_XCOMP_GUEST_PERM",
        0x2001: "ARCH_MAP_VDSO_X32",
        0x2002: "ARCH_MAP_VDSO_32",
        0x2003: "ARCH_MAP_VDSO_64",
        0x4001: "ARCH_GET_UNTAG_MASK",
        0x4002: "ARCH_ENABLE_TAGGED_ADDR",
        0x4003: "ARCH_GET_MAX_TAG_BITS",
        0x4004: "ARCH_FORCE_TAGGED_SVA",
        0x5001: "ARCH_SHSTK_ENABLE",
        0x5002: "ARCH_SHSTK_DISABLE",
        0x5003: "ARCH_SHSTK_LOCK",
        0x5004: "ARCH_SHSTK_UNLOCK",
        0x5005: "ARCH_SHSTK_STATUS",
    },
)

CLOCK: Final = enum_table(
    "CLOCK",
    {
        number: f"CLOCK_{name}"
        for number, name in enumerate(
            "REALTIME MONOTONIC PROCESS_CPUTIME_ID THREAD_CPUTIME_ID MONOTONIC_RAW "
            "REALTIME_COARSE MONOTONIC_COARSE BOOTTIME REALTIME_ALARM BOOTTIME_ALARM SGI_CYCLE "
            "TAI".split()
        )
    },
)

TIMER: Final = flag_table("TIMER", {0x1: "TIMER_ABSTIME"})

ITIMER: Final = enum_table("ITIMER", {0: "ITIMER_REAL", 1: "ITIMER_VIRTUAL", 2: "ITIMER_PROF"})

GRND: Final = flag_table("GRND", {0x1: "GRND_NONBLOCK", 0x2: "GRND_RANDOM", 0x4: "GRND_INSECURE"})

WAIT: Final = flag_table(
    "WAIT",
    (
        (0x1, "WNOHANG"),
        (0x4, "WEXITED"),
        (0x2, "WSTOPPED"),
        (0x8, "WCONTINUED"),
        (0x1000000, "WNOWAIT"),
        (0x80000000, "__WCLONE"),
        (0x40000000, "__WALL"),
        (0x20000000, "__WNOTHREAD"),
    ),
    unknown="W???",
)

IDTYPE: Final = enum_table("P", {0: "P_ALL", 1: "P_PID", 2: "P_PGID", 3: "P_PIDFD"})

RUSAGE: Final = enum_table(
    "RUSAGE", {0: "RUSAGE_SELF", 0xFFFFFFFF: "RUSAGE_CHILDREN", 1: "RUSAGE_THREAD"}
)

PRIO: Final = enum_table("PRIO", {0: "PRIO_PROCESS", 1: "PRIO_PGRP", 2: "PRIO_USER"})

_PR_NAMES: Final = (
    "SET_PDEATHSIG GET_PDEATHSIG GET_DUMPABLE SET_DUMPABLE GET_UNALIGN SET_UNALIGN GET_KEEPCAPS "
    "SET_KEEPCAPS GET_FPEMU SET_FPEMU GET_FPEXC SET_FPEXC GET_TIMING SET_TIMING SET_NAME GET_NAME "
    "- - GET_ENDIAN SET_ENDIAN GET_SECCOMP SET_SECCOMP CAPBSET_READ CAPBSET_DROP GET_TSC SET_TSC "
    "GET_SECUREBITS SET_SECUREBITS SET_TIMERSLACK GET_TIMERSLACK TASK_PERF_EVENTS_DISABLE "
    "TASK_PERF_EVENTS_ENABLE MCE_KILL MCE_KILL_GET SET_MM SET_CHILD_SUBREAPER "
    "GET_CHILD_SUBREAPER SET_NO_NEW_PRIVS GET_NO_NEW_PRIVS GET_TID_ADDRESS SET_THP_DISABLE "
    "GET_THP_DISABLE MPX_ENABLE_MANAGEMENT MPX_DISABLE_MANAGEMENT SET_FP_MODE GET_FP_MODE "
    "CAP_AMBIENT - - SVE_SET_VL SVE_GET_VL GET_SPECULATION_CTRL SET_SPECULATION_CTRL "
    "PAC_RESET_KEYS SET_TAGGED_ADDR_CTRL GET_TAGGED_ADDR_CTRL SET_IO_FLUSHER GET_IO_FLUSHER "
    "SET_SYSCALL_USER_DISPATCH PAC_SET_ENABLED_KEYS PAC_GET_ENABLED_KEYS SCHED_CORE SME_SET_VL "
    "SME_GET_VL SET_MDWE GET_MDWE SET_MEMORY_MERGE GET_MEMORY_MERGE"
).split()

PR: Final = enum_table(
    "PR",
    {
        **{n: f"PR_{name}" for n, name in enumerate(_PR_NAMES, start=1) if name != "-"},
        0x53564D41: "PR_SET_VMA",
    },
)

CSIGNAL: Final = 0xFF

CLONE: Final = flag_table(
    "CLONE",
    (
        (0x100, "CLONE_VM"),
        (0x200, "CLONE_FS"),
        (0x400, "CLONE_FILES"),
        (0x800, "CLONE_SIGHAND"),
        (0x1000, "CLONE_PIDFD"),
        (0x2000, "CLONE_PTRACE"),
        (0x4000, "CLONE_VFORK"),
        (0x8000, "CLONE_PARENT"),
        (0x10000, "CLONE_THREAD"),
        (0x20000, "CLONE_NEWNS"),
        (0x40000, "CLONE_SYSVSEM"),
        (0x80000, "CLONE_SETTLS"),
        (0x100000, "CLONE_PARENT_SETTID"),
        (0x200000, "CLONE_CHILD_CLEARTID"),
        (0x800000, "CLONE_UNTRACED"),
        (0x1000000, "CLONE_CHILD_SETTID"),
        (0x2000000, "CLONE_NEWCGROUP"),
        (0x4000000, "CLONE_NEWUTS"),
        (0x8000000, "CLONE_NEWIPC"),
        (0x10000000, "CLONE_NEWUSER"),
        (0x20000000, "CLONE_NEWPID"),
        (0x40000000, "CLONE_NEWNET"),
        (0x80000000, "CLONE_IO"),
    ),
    width=64,
)


def format_signal(value: int) -> str:
    """`SIGSEGV`, `SIGRT_2`; numbers without a name (including 0) in decimal."""
    return format_enum(SIG, value)


def format_clone_flags(value: int) -> str:
    """clone's flags: `CLONE_VM|CLONE_FS|...|SIGCHLD`, the low byte being the exit signal."""
    value &= (1 << 64) - 1
    flags, sig = value & ~CSIGNAL, value & CSIGNAL
    if not flags:
        return format_signal(sig) if sig else "0"
    text = format_flags(CLONE, flags)
    return f"{text}|{format_signal(sig)}" if sig else text


FUTEX_PRIVATE_FLAG: Final = 128
FUTEX_CLOCK_REALTIME: Final = 256
FUTEX_CMD_MASK: Final = ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
FUTEX_BITSET_MATCH_ANY: Final = 0xFFFFFFFF

FUTEX_CMD: Final = enum_table(
    "FUTEX",
    {
        0: "FUTEX_WAIT",
        1: "FUTEX_WAKE",
        2: "FUTEX_FD",
        3: "FUTEX_REQUEUE",
        4: "FUTEX_CMP_REQUEUE",
        5: "FUTEX_WAKE_OP",
        6: "FUTEX_LOCK_PI",
        7: "FUTEX_UNLOCK_PI",
        8: "FUTEX_TRYLOCK_PI",
        9: "FUTEX_WAIT_BITSET",
        10: "FUTEX_WAKE_BITSET",
        11: "FUTEX_WAIT_REQUEUE_PI",
        12: "FUTEX_CMP_REQUEUE_PI",
        13: "FUTEX_LOCK_PI2",
    },
)


_FUTEX_CLOCK_CMDS: Final = frozenset({0, 9, 11, 13})
"""Commands strace names together with FUTEX_CLOCK_REALTIME (the waits and LOCK_PI2)."""


def futex_cmd(op: int) -> int:
    """The command of a futex op without the PRIVATE and CLOCK_REALTIME bits."""
    return op & 0xFFFFFFFF & FUTEX_CMD_MASK


def format_futex_op(op: int) -> str:
    """`FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME`; unknown as `0x63 /* FUTEX_??? */`."""
    op &= 0xFFFFFFFF
    cmd = futex_cmd(op)
    clock = bool(op & FUTEX_CLOCK_REALTIME)
    if cmd not in FUTEX_CMD.values or (clock and cmd not in _FUTEX_CLOCK_CMDS):
        return format_enum(FUTEX_CMD, op)
    text = FUTEX_CMD.values[cmd] + ("_PRIVATE" if op & FUTEX_PRIVATE_FLAG else "")
    return text + ("|FUTEX_CLOCK_REALTIME" if clock else "")


def format_futex_bitset(value: int) -> str:
    value &= 0xFFFFFFFF
    return "FUTEX_BITSET_MATCH_ANY" if value == FUTEX_BITSET_MATCH_ANY else format_hex(value)


_WAKE_OPS: Final = enum_table(
    "FUTEX_OP",
    {0: "FUTEX_OP_SET", 1: "FUTEX_OP_ADD", 2: "FUTEX_OP_OR", 3: "FUTEX_OP_ANDN", 4: "FUTEX_OP_XOR"},
)
_WAKE_CMPS: Final = enum_table(
    "FUTEX_OP_CMP",
    {
        number: f"FUTEX_OP_CMP_{name}"
        for number, name in enumerate(["EQ", "NE", "LT", "LE", "GT", "GE"])
    },
)


def format_futex_wake_op(val3: int) -> str:
    """FUTEX_WAKE_OP's encoded operation: `FUTEX_OP_ADD<<28|0<<12|FUTEX_OP_CMP_GT<<24|0x1`."""
    val3 &= 0xFFFFFFFF
    op, cmp = (val3 >> 28) & 0xF, (val3 >> 24) & 0xF
    oparg, cmparg = (val3 >> 12) & 0xFFF, val3 & 0xFFF
    shift = "FUTEX_OP_OPARG_SHIFT<<28|" if op & 8 else ""
    op_text, cmp_text = _shifted(_WAKE_OPS, op & 7, 28), _shifted(_WAKE_CMPS, cmp, 24)
    return f"{shift}{op_text}|{format_hex(oparg)}<<12|{cmp_text}|{format_hex(cmparg)}"


def _shifted(table: EnumTable, value: int, shift: int) -> str:
    name, _, comment = format_enum(table, value).partition(" ")
    return f"{name}<<{shift} {comment}" if comment else f"{name}<<{shift}"


TABLES: Final = (
    SIG,
    SIGPROCMASK,
    RLIMIT,
    ARCH,
    CLOCK,
    TIMER,
    ITIMER,
    GRND,
    WAIT,
    IDTYPE,
    RUSAGE,
    PRIO,
    PR,
)
"""Tables printed by the generic formatters (CLONE and FUTEX have their own)."""
