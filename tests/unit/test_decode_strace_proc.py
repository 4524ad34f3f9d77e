"""strace lines for memory, process, signal, time and futex syscalls, each as strace 6.1
printed it on this project's development machine for the same registers and memory."""

from __future__ import annotations

import pytest

from tracer.decode.strace import format_syscall
from tracer.decode.syscall_table import syscall_number

U64 = (1 << 64) - 1


def line(name: str, args: list[int], ret: int | None, memory: dict[int, bytes | None]) -> str:
    """Format as the capture would hand values over: unsigned 64-bit registers."""
    nr = syscall_number(name)
    assert nr is not None, name
    raw_ret = None if ret is None else ret & U64
    return format_syscall(nr, [a & U64 for a in args], raw_ret, memory)


MEM = 0x1000  # a user address; its contents are given as `memory`

RECORDED = [
    (
        "mmap",
        [0x7FAEEB9EB000, 1400832, 5, 0x812, 3, 0x26000],
        0x7FAEEB9EB000,
        {},
        "mmap(0x7faeeb9eb000, 1400832, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, "
        "3, 0x26000) = 0x7faeeb9eb000",
    ),
    (
        "mmap",
        [0, 4096, 0, 2, 0xFFFFFFFF, 0],
        -9,
        {},
        "mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE, -1, 0) = -1 EBADF (Bad file descriptor)",
    ),
    (
        "mmap",
        [0, 0, 0, 0x22, 3, 0xFFFFFFFFFFFF0000],
        -22,
        {},
        "mmap(NULL, 0, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, 3, 0xffffffffffff0000) = -1 EINVAL"
        " (Invalid argument)",
    ),
    (
        "mprotect",
        [0x7FAEEBB94000, 16384, 1],
        0,
        {},
        "mprotect(0x7faeebb94000, 16384, PROT_READ) = 0",
    ),
    (
        "munmap",
        [MEM, U64],
        -22,
        {},
        "munmap(0x1000, 18446744073709551615) = -1 EINVAL (Invalid argument)",
    ),
    ("brk", [0x55C287EE0000], 0x55C287EE0000, {}, "brk(0x55c287ee0000) = 0x55c287ee0000"),
    (
        "madvise",
        [0, 4096, 4],
        -12,
        {},
        "madvise(NULL, 4096, MADV_DONTNEED) = -1 ENOMEM (Cannot allocate memory)",
    ),
    (
        "mremap",
        [MEM, 4096, 8192, 1, 0],
        -14,
        {},
        "mremap(0x1000, 4096, 8192, MREMAP_MAYMOVE) = -1 EFAULT (Bad address)",
    ),
    (
        "mremap",
        [MEM, 4096, 8192, 3, MEM],
        -22,
        {},
        "mremap(0x1000, 4096, 8192, MREMAP_MAYMOVE|MREMAP_FIXED, 0x1000) = -1 EINVAL"
        " (Invalid argument)",
    ),
    (
        "msync",
        [MEM, 4096, 4],
        -12,
        {},
        "msync(0x1000, 4096, MS_SYNC) = -1 ENOMEM (Cannot allocate memory)",
    ),
    (
        "mincore",
        [MEM, 4096, 0],
        -12,
        {},
        "mincore(0x1000, 4096, NULL) = -1 ENOMEM (Cannot allocate memory)",
    ),
    (
        "arch_prctl",
        [0x3001, 0],
        -22,
        {},
        "arch_prctl(0x3001 /* ARCH_??? */, 0) = -1 EINVAL (Invalid argument)",
    ),
    ("arch_prctl", [0x1001, 0], 0, {}, "arch_prctl(ARCH_SET_GS, 0) = 0"),
    ("arch_prctl", [0x1002, 0x7FAEEB9C2740], 0, {}, "arch_prctl(ARCH_SET_FS, 0x7faeeb9c2740) = 0"),
    ("set_tid_address", [0x7FAEEB9C2A10], 6455, {}, "set_tid_address(0x7faeeb9c2a10) = 6455"),
    ("set_robust_list", [0x7FAEEB9C2A20, 24], 0, {}, "set_robust_list(0x7faeeb9c2a20, 24) = 0"),
    ("set_robust_list", [0, 24], 0, {}, "set_robust_list(NULL, 24) = 0"),
    (
        "rseq",
        [0x7FAEEB9C3060, 0x20, 0, 0x53053053],
        0,
        {},
        "rseq(0x7faeeb9c3060, 0x20, 0, 0x53053053) = 0",
    ),
    (
        "rseq",
        [0, 0x20, 1, 0x53053053],
        -22,
        {},
        "rseq(0, 0x20, 0x1, 0x53053053) = -1 EINVAL (Invalid argument)",
    ),
    ("prlimit64", [0, 3, 0, 0], 0, {}, "prlimit64(0, RLIMIT_STACK, NULL, NULL) = 0"),
    (
        "prlimit64",
        [-1, 3, 0, 0],
        -3,
        {},
        "prlimit64(-1, RLIMIT_STACK, NULL, NULL) = -1 ESRCH (No such process)",
    ),
    (
        "getrandom",
        [MEM, 8, 1],
        8,
        {0: bytes.fromhex("cc7879d966886e37")},
        'getrandom("\\xcc\\x78\\x79\\xd9\\x66\\x88\\x6e\\x37", 8, GRND_NONBLOCK) = 8',
    ),
    (
        "getrandom",
        [0, 16, 7],
        -22,
        {},
        "getrandom(NULL, 16, GRND_NONBLOCK|GRND_RANDOM|GRND_INSECURE)"
        " = -1 EINVAL (Invalid argument)",
    ),
    ("getrandom", [0, 0, 0], 0, {}, "getrandom(NULL, 0, 0) = 0"),
    ("rt_sigaction", [11, 0, 0, 8], 0, {}, "rt_sigaction(SIGSEGV, NULL, NULL, 8) = 0"),
    (
        "rt_sigaction",
        [2, MEM, 0, 8],
        -14,
        {},
        "rt_sigaction(SIGINT, 0x1000, NULL, 8) = -1 EFAULT (Bad address)",
    ),
    (
        "rt_sigaction",
        [99, 0, 0, 8],
        -22,
        {},
        "rt_sigaction(99, NULL, NULL, 8) = -1 EINVAL (Invalid argument)",
    ),
    ("rt_sigprocmask", [0, 0, 0, 8], 0, {}, "rt_sigprocmask(SIG_BLOCK, NULL, NULL, 8) = 0"),
    ("rt_sigprocmask", [5, 0, 0, 8], 0, {}, "rt_sigprocmask(0x5 /* SIG_??? */, NULL, NULL, 8) = 0"),
    ("kill", [12345678, 11], -3, {}, "kill(12345678, SIGSEGV) = -1 ESRCH (No such process)"),
    ("kill", [12345678, 0], -3, {}, "kill(12345678, 0) = -1 ESRCH (No such process)"),
    ("kill", [12345678, 34], -3, {}, "kill(12345678, SIGRT_2) = -1 ESRCH (No such process)"),
    ("tgkill", [5, 6, 11], -3, {}, "tgkill(5, 6, SIGSEGV) = -1 ESRCH (No such process)"),
    ("tkill", [5, 99], -22, {}, "tkill(5, 99) = -1 EINVAL (Invalid argument)"),
    ("getpid", [], 6588, {}, "getpid() = 6588"),
    ("gettid", [], 6588, {}, "gettid() = 6588"),
    ("sched_yield", [], 0, {}, "sched_yield() = 0"),
    ("alarm", [0xFFFFFFFF], 0, {}, "alarm(4294967295) = 0"),
    ("time", [0], 1795443866, {}, "time(NULL) = 1795443866 (2026-11-23T14:24:26+0000)"),
    ("time", [MEM], -14, {}, "time(0x1000) = -1 EFAULT (Bad address)"),
    ("nanosleep", [0, 0], -14, {}, "nanosleep(NULL, NULL) = -1 EFAULT (Bad address)"),
    (
        "clock_nanosleep",
        [1, 1, 0, 0],
        -14,
        {},
        "clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, NULL, NULL) = -1 EFAULT (Bad address)",
    ),
    (
        "clock_gettime",
        [1, 0],
        -14,
        {},
        "clock_gettime(CLOCK_MONOTONIC, NULL) = -1 EFAULT (Bad address)",
    ),
    ("gettimeofday", [0, 0], 0, {}, "gettimeofday(NULL, NULL) = 0"),
    ("getrlimit", [3, 0], -14, {}, "getrlimit(RLIMIT_STACK, NULL) = -1 EFAULT (Bad address)"),
    ("getrusage", [0, 0], -14, {}, "getrusage(RUSAGE_SELF, NULL) = -1 EFAULT (Bad address)"),
    ("sigaltstack", [0, MEM], -14, {}, "sigaltstack(NULL, 0x1000) = -1 EFAULT (Bad address)"),
    ("uname", [MEM], -14, {}, "uname(0x1000) = -1 EFAULT (Bad address)"),
    ("getgroups", [-1, 0], -22, {}, "getgroups(-1, NULL) = -1 EINVAL (Invalid argument)"),
    ("setuid", [0xFFFFFFFF], -22, {}, "setuid(-1) = -1 EINVAL (Invalid argument)"),
    ("setpgid", [-1, -1], -22, {}, "setpgid(-1, -1) = -1 EINVAL (Invalid argument)"),
    (
        "wait4",
        [-1, 0, 1, 0],
        -10,
        {},
        "wait4(-1, NULL, WNOHANG, NULL) = -1 ECHILD (No child processes)",
    ),
    (
        "wait4",
        [5, 0, 0x40000001, 0],
        -10,
        {},
        "wait4(5, NULL, WNOHANG|__WALL, NULL) = -1 ECHILD (No child processes)",
    ),
    (
        "execve",
        [MEM, 0, 0],
        -13,
        {0: b"/nonexist"},
        'execve("/nonexist", NULL, NULL) = -1 EACCES (Permission denied)',
    ),
    (
        "execve",
        [MEM, 0x1000, 0x2000],
        -13,
        {0: b"/nonexist"},
        'execve("/nonexist", 0x1000, 0x2000) = -1 EACCES (Permission denied)',
    ),
    ("clone3", [0, 0], -22, {}, "clone3(NULL, 0) = -1 EINVAL (Invalid argument)"),
    (
        "clone3",
        [0, U64],
        -7,
        {},
        "clone3(NULL, 18446744073709551615) = -1 E2BIG (Argument list too long)",
    ),
    ("set_mempolicy_home_node", [0, 0, 0, 0], 0, {}, "set_mempolicy_home_node(NULL, 0, 0, 0) = 0"),
    (
        "futex",
        [0x7F4419E39A4C, 0x81, 0x7FFFFFFF, 0, 0, 0],
        0,
        {},
        "futex(0x7f4419e39a4c, FUTEX_WAKE_PRIVATE, 2147483647) = 0",
    ),
    (
        "futex",
        [MEM, 0, 1, 0, 0, 0],
        -14,
        {},
        "futex(0x1000, FUTEX_WAIT, 1, NULL) = -1 EFAULT (Bad address)",
    ),
    (
        "futex",
        [MEM, 0x189, 1, 0, 0, 0xFFFFFFFF],
        -14,
        {},
        "futex(0x1000, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 1, NULL,"
        " FUTEX_BITSET_MATCH_ANY) = -1 EFAULT (Bad address)",
    ),
    (
        "futex",
        [MEM, 0x63, 1, 0, 0, 0],
        -38,
        {},
        "futex(0x1000, 0x63 /* FUTEX_??? */, 1, NULL, NULL, 0)"
        " = -1 ENOSYS (Function not implemented)",
    ),
    (
        "futex",
        [0, 0x101, 0, 0, 0, 0],
        -38,
        {},
        "futex(NULL, 0x101 /* FUTEX_??? */, 0) = -1 ENOSYS (Function not implemented)",
    ),
    (
        "futex",
        [0, 2, 0, 0, 0, 0],
        -38,
        {},
        "futex(NULL, FUTEX_FD, 0) = -1 ENOSYS (Function not implemented)",
    ),
    (
        "futex",
        [0, 3, 1, 1, 0, 7],
        -14,
        {},
        "futex(NULL, FUTEX_REQUEUE, 1, 1, NULL) = -1 EFAULT (Bad address)",
    ),
    (
        "futex",
        [0, 4, 0, 0, 0, 0xFFFFFFFF],
        -14,
        {},
        "futex(NULL, FUTEX_CMP_REQUEUE, 0, 0, NULL, 4294967295) = -1 EFAULT (Bad address)",
    ),
    (
        "futex",
        [0, 0x85, 1, 1, 0, 1 << 28 | 4 << 24 | 1],
        -14,
        {},
        "futex(NULL, FUTEX_WAKE_OP_PRIVATE, 1, 1, NULL,"
        " FUTEX_OP_ADD<<28|0<<12|FUTEX_OP_CMP_GT<<24|0x1)"
        " = -1 EFAULT (Bad address)",
    ),
    (
        "futex",
        [0, 6, 0, 0, 0, 0],
        -14,
        {},
        "futex(NULL, FUTEX_LOCK_PI, NULL) = -1 EFAULT (Bad address)",
    ),
    (
        "futex",
        [0, 7, 0, 0, 0, 0],
        -14,
        {},
        "futex(NULL, FUTEX_UNLOCK_PI) = -1 EFAULT (Bad address)",
    ),
    (
        "futex",
        [0, 8, 0, 0, 0, 0],
        -14,
        {},
        "futex(NULL, FUTEX_TRYLOCK_PI) = -1 EFAULT (Bad address)",
    ),
    (
        "futex",
        [0, 10, 0, 0, 0, 5],
        -14,
        {},
        "futex(NULL, FUTEX_WAKE_BITSET, 0, 0x5) = -1 EFAULT (Bad address)",
    ),
    (
        "futex",
        [0, 11, 0, 0, 0, 0],
        -22,
        {},
        "futex(NULL, FUTEX_WAIT_REQUEUE_PI, 0, NULL, NULL) = -1 EINVAL (Invalid argument)",
    ),
    (
        "futex",
        [0, 13, 0, 0, 0, 0],
        -14,
        {},
        "futex(NULL, FUTEX_LOCK_PI2, NULL) = -1 EFAULT (Bad address)",
    ),
    (
        "futex",
        [0, 0x80, 1, MEM, 0, 7],
        -14,
        {},
        "futex(NULL, FUTEX_WAIT_PRIVATE, 1, 0x1000) = -1 EFAULT (Bad address)",
    ),
    (
        "futex",
        [0, 1, 0xFFFFFFFF, 0, 0, 5],
        -14,
        {},
        "futex(NULL, FUTEX_WAKE, 4294967295) = -1 EFAULT (Bad address)",
    ),
    (
        "clone",
        [0x7FFFFF00, 0, 0, 0, 0],
        -22,
        {},
        "clone(child_stack=NULL, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_PIDFD|"
        "CLONE_PTRACE|CLONE_VFORK|CLONE_PARENT|CLONE_THREAD|CLONE_NEWNS|CLONE_SYSVSEM|CLONE_SETTLS|"
        "CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID|CLONE_UNTRACED|CLONE_CHILD_SETTID|CLONE_NEWCGROUP|"
        "CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET|0x400000,"
        " parent_tid=NULL, tls=NULL, child_tidptr=NULL) = -1 EINVAL (Invalid argument)",
    ),
]


@pytest.mark.parametrize(("name", "args", "ret", "memory", "expected"), RECORDED)
def test_recorded_strace_lines(
    name: str, args: list[int], ret: int | None, memory: dict[int, bytes | None], expected: str
) -> None:
    assert line(name, args, ret, memory) == expected
