"""Flag and enum printing. Expected strings are strace 6.1's output for the same values."""

from __future__ import annotations

import pytest

from tracer.decode.flags import FORMATTERS, TABLES, format_flags
from tracer.decode.xlat import enum_table, flag_table

ALL = 0xFFFFFFFF

RECORDED = [
    ("PROT", 3, "PROT_READ|PROT_WRITE"),
    ("PROT", 0, "PROT_NONE"),
    ("PROT", 0x10000000, "0x10000000 /* PROT_??? */"),
    ("PROT", 0x1000000F, "PROT_READ|PROT_WRITE|PROT_EXEC|PROT_SEM|0x10000000"),
    (
        "PROT",
        ALL,
        "PROT_READ|PROT_WRITE|PROT_EXEC|PROT_SEM|PROT_GROWSDOWN|PROT_GROWSUP|0xfcfffff0",
    ),
    ("MAP", 0x22, "MAP_PRIVATE|MAP_ANONYMOUS"),
    ("MAP", 0x812, "MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE"),
    ("MAP", 0x20, "MAP_FILE|MAP_ANONYMOUS"),
    ("MAP", 0x3, "MAP_SHARED_VALIDATE"),
    ("MAP", 0xF, "0xf /* MAP_??? */"),
    ("MAP", 0x202, "MAP_PRIVATE|0x200"),
    ("MAP", 0x22 | 0x40000 | 21 << 26, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|21<<MAP_HUGE_SHIFT"),
    (
        "MAP",
        0x7FFFFFF2,
        "MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS|MAP_32BIT|MAP_NORESERVE|MAP_POPULATE|MAP_NONBLOCK|"
        "MAP_GROWSDOWN|MAP_DENYWRITE|MAP_EXECUTABLE|MAP_LOCKED|MAP_STACK|MAP_HUGETLB|MAP_SYNC|"
        "MAP_FIXED_NOREPLACE|0x3e00680|31<<MAP_HUGE_SHIFT",
    ),
    ("O", 0o2000000, "O_RDONLY|O_CLOEXEC"),
    ("O", 0o2000101, "O_WRONLY|O_CREAT|O_CLOEXEC"),
    ("O", 0o4000, "O_RDONLY|O_NONBLOCK"),
    ("O", 0o2204000, "O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY"),
    ("O", 0o4, "O_RDONLY|0x4"),
    ("O", 0o5, "O_WRONLY|0x4"),
    ("O", 0o4010000, "O_RDONLY|O_SYNC"),
    ("O", 0o4000000, "O_RDONLY|__O_SYNC"),
    ("O", 0o10000, "O_RDONLY|O_DSYNC"),
    ("O", 0o20000000, "O_RDONLY|__O_TMPFILE"),
    ("O", 0o20200000, "O_RDONLY|O_TMPFILE"),
    ("O", 0o20000, "O_RDONLY|FASYNC"),
    (
        "O",
        ALL,
        "O_ACCMODE|O_CREAT|O_EXCL|O_NOCTTY|O_TRUNC|O_APPEND|O_NONBLOCK|O_SYNC|O_DIRECT|"
        "O_LARGEFILE|O_NOFOLLOW|O_NOATIME|O_CLOEXEC|O_PATH|O_TMPFILE|FASYNC|0xff80003c",
    ),
    (
        "O",
        ALL & ~0o20000000,
        "O_ACCMODE|O_CREAT|O_EXCL|O_NOCTTY|O_TRUNC|O_APPEND|O_NONBLOCK|O_SYNC|O_DIRECT|"
        "O_LARGEFILE|O_NOFOLLOW|O_NOATIME|O_CLOEXEC|O_PATH|O_DIRECTORY|FASYNC|0xff80003c",
    ),
    ("O_FLAGS", 0, "0"),
    ("O_FLAGS", 0o2000000, "O_CLOEXEC"),
    (
        "O_FLAGS",
        ALL,
        "O_CREAT|O_EXCL|O_NOCTTY|O_TRUNC|O_APPEND|O_NONBLOCK|O_SYNC|O_DIRECT|O_LARGEFILE|"
        "O_NOFOLLOW|O_NOATIME|O_CLOEXEC|O_PATH|O_TMPFILE|FASYNC|0xff80003f",
    ),
    ("AT", 0x1000, "AT_EMPTY_PATH"),
    ("AT", 0, "0"),
    ("AT", 0x800000, "0x800000 /* AT_??? */"),
    (
        "AT",
        ALL,
        "AT_SYMLINK_NOFOLLOW|AT_REMOVEDIR|AT_SYMLINK_FOLLOW|AT_NO_AUTOMOUNT|AT_EMPTY_PATH|"
        "AT_RECURSIVE|0xffff60ff",
    ),
    ("AT_STATX", 0x800, "AT_STATX_SYNC_AS_STAT|AT_NO_AUTOMOUNT"),
    ("AT_STATX", 0, "AT_STATX_SYNC_AS_STAT"),
    ("AT_STATX", 0x2000, "AT_STATX_FORCE_SYNC"),
    ("STATX", 0x7FF, "STATX_BASIC_STATS"),
    ("STATX", 0xFFF, "STATX_ALL"),
    ("STATX", 0, "0"),
    ("ACCESS", 0, "F_OK"),
    ("ACCESS", 4, "R_OK"),
    ("ACCESS", 8, "0x8 /* ?_OK */"),
    ("ACCESS", ALL, "R_OK|W_OK|X_OK|0xfffffff8"),
    ("GRND", 1, "GRND_NONBLOCK"),
    ("GRND", 0, "0"),
    ("GRND", 0x100, "0x100 /* GRND_??? */"),
    ("GRND", ALL, "GRND_NONBLOCK|GRND_RANDOM|GRND_INSECURE|0xfffffff8"),
    ("WAIT", 0x40000001, "WNOHANG|__WALL"),
    (
        "WAIT",
        ALL,
        "WNOHANG|WEXITED|WSTOPPED|WCONTINUED|WNOWAIT|__WCLONE|__WALL|__WNOTHREAD|0x1efffff0",
    ),
    ("MREMAP", 1, "MREMAP_MAYMOVE"),
    ("MREMAP", ALL, "MREMAP_MAYMOVE|MREMAP_FIXED|MREMAP_DONTUNMAP|0xfffffff8"),
    ("MS", ALL, "MS_SYNC|MS_ASYNC|MS_INVALIDATE|0xfffffff8"),
    ("TIMER", 1, "TIMER_ABSTIME"),
    ("TIMER", 3, "TIMER_ABSTIME|0x2"),
    ("FD", 1, "FD_CLOEXEC"),
    ("ARCH", 0x1002, "ARCH_SET_FS"),
    ("ARCH", 0x1001, "ARCH_SET_GS"),
    ("ARCH", 0x3001, "0x3001 /* ARCH_??? */"),
    ("RLIMIT", 3, "RLIMIT_STACK"),
    ("RLIMIT", 15, "RLIMIT_RTTIME"),
    ("RLIMIT", 0x10, "0x10 /* RLIMIT_??? */"),
    ("CLOCK", 0, "CLOCK_REALTIME"),
    ("CLOCK", 1, "CLOCK_MONOTONIC"),
    ("CLOCK", 11, "CLOCK_TAI"),
    ("CLOCK", 0xC, "0xc /* CLOCK_??? */"),
    ("SIGPROCMASK", 2, "SIG_SETMASK"),
    ("SIGPROCMASK", 3, "0x3 /* SIG_??? */"),
    ("SEEK", 1, "SEEK_CUR"),
    ("SEEK", 4, "SEEK_HOLE"),
    ("SEEK", 9, "0x9 /* SEEK_??? */"),
    ("MADV", 4, "MADV_DONTNEED"),
    ("MADV", 25, "MADV_COLLAPSE"),
    ("MADV", 5, "0x5 /* MADV_??? */"),
    ("MADV", ALL, "0xffffffff /* MADV_??? */"),
    ("F", 1030, "F_DUPFD_CLOEXEC"),
    ("F", 0x63, "0x63 /* F_??? */"),
    ("ITIMER", ALL, "0xffffffff /* ITIMER_??? */"),
    ("SIG", 11, "SIGSEGV"),
    ("SIG", 0, "0"),
    ("SIG", 99, "99"),
    ("SIG", 32, "SIGRTMIN"),
    ("SIG", 33, "SIGRT_1"),
    ("SIG", 34, "SIGRT_2"),
    ("SIG", 64, "SIGRT_32"),
    ("SIG", 65, "65"),
    ("DIRFD", 0xFFFFFF9C, "AT_FDCWD"),
    ("DIRFD", (1 << 64) - 100, "AT_FDCWD"),
    ("DIRFD", ALL, "-1"),
    ("DIRFD", 0x80000000, "-2147483648"),
    ("DIRFD", 3, "3"),
    ("MODE", 0o644, "0644"),
    ("MODE", 0, "000"),
    ("MODE", 5, "005"),
    ("MODE", 0o22, "022"),
    ("MODE", 0o100755, "0100755"),
    ("MODE", 0o1777777, "0177777"),
    ("FUTEX", 0x81, "FUTEX_WAKE_PRIVATE"),
    ("FUTEX", 0x80, "FUTEX_WAIT_PRIVATE"),
    ("FUTEX", 0x189, "FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME"),
    ("FUTEX", 0x100, "FUTEX_WAIT|FUTEX_CLOCK_REALTIME"),
    ("FUTEX", 0x101, "0x101 /* FUTEX_??? */"),
    ("FUTEX", 0x63, "0x63 /* FUTEX_??? */"),
    ("FUTEX", 13, "FUTEX_LOCK_PI2"),
    ("FUTEX_WAKE_OP", 1 << 28 | 4 << 24 | 1, "FUTEX_OP_ADD<<28|0<<12|FUTEX_OP_CMP_GT<<24|0x1"),
    (
        "FUTEX_WAKE_OP",
        8 << 28 | 3 << 12 | 1 << 24,
        "FUTEX_OP_OPARG_SHIFT<<28|FUTEX_OP_SET<<28|0x3<<12|FUTEX_OP_CMP_NE<<24|0",
    ),
    (
        "FUTEX_WAKE_OP",
        ALL,
        "FUTEX_OP_OPARG_SHIFT<<28|0x7<<28 /* FUTEX_OP_??? */|0xfff<<12|"
        "0xf<<24 /* FUTEX_OP_CMP_??? */|0xfff",
    ),
    ("FUTEX_BITSET", ALL, "FUTEX_BITSET_MATCH_ANY"),
    ("FUTEX_BITSET", 5, "0x5"),
    ("CLONE", 0x11, "SIGCHLD"),
    ("CLONE", 0, "0"),
    ("CLONE", 0x1200011, "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"),
    (
        "CLONE",
        0x7FFFFFF1,
        "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_PIDFD|CLONE_PTRACE|CLONE_VFORK|"
        "CLONE_PARENT|CLONE_THREAD|CLONE_NEWNS|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|"
        "CLONE_CHILD_CLEARTID|CLONE_UNTRACED|CLONE_CHILD_SETTID|CLONE_NEWCGROUP|CLONE_NEWUTS|"
        "CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET|0x400000|241",
    ),
    (
        "CLONE",
        (1 << 64) - 1,
        "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_PIDFD|CLONE_PTRACE|CLONE_VFORK|"
        "CLONE_PARENT|CLONE_THREAD|CLONE_NEWNS|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|"
        "CLONE_CHILD_CLEARTID|CLONE_UNTRACED|CLONE_CHILD_SETTID|CLONE_NEWCGROUP|CLONE_NEWUTS|"
        "CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET|CLONE_IO|0xffffffff00400000|255",
    ),
    ("IOCTL", 0x5401, "TCGETS"),
    ("IOCTL", 0x5413, "TIOCGWINSZ"),
    ("IOCTL", 0x5402, "SNDCTL_TMR_START or TCSETS"),
    ("IOCTL", 0x12345678, "_IOC(_IOC_NONE, 0x56, 0x78, 0x1234)"),
    ("IOCTL", 0xC0105512, "_IOC(_IOC_READ|_IOC_WRITE, 0x55, 0x12, 0x10)"),
    ("IOCTL", 0x40085512, "_IOC(_IOC_WRITE, 0x55, 0x12, 0x8)"),
    ("IOCTL", 0x80001234, "_IOC(_IOC_READ, 0x12, 0x34, 0)"),
]


@pytest.mark.parametrize(("table", "value", "expected"), RECORDED)
def test_prints_like_strace(table: str, value: int, expected: str) -> None:
    assert format_flags(table, value) == expected


def test_table_objects_and_names_print_alike() -> None:
    assert format_flags(TABLES["PROT"], 5) == format_flags("PROT", 5) == "PROT_READ|PROT_EXEC"
    assert format_flags(TABLES["ARCH"], 0x1003) == "ARCH_GET_FS"


def test_unknown_table_name_raises() -> None:
    with pytest.raises(KeyError, match="NOPE"):
        format_flags("NOPE", 1)


def test_every_named_table_formats_zero_and_all_bits() -> None:
    for name, formatter in FORMATTERS.items():
        assert formatter(0), name
        assert formatter(ALL), name


def test_flag_rules_on_a_small_table() -> None:
    table = flag_table("T", ((0x3, "T_BOTH"), (0x1, "T_ONE"), (0x4, "T_FOUR")), zero="T_NONE")
    assert format_flags(table, 0) == "T_NONE"
    assert format_flags(table, 0x3) == "T_BOTH"  # a multi-bit entry wins when listed first
    assert format_flags(table, 0x1) == "T_ONE"
    assert format_flags(table, 0x5) == "T_ONE|T_FOUR"
    assert format_flags(table, 0x19) == "T_ONE|0x18"
    assert format_flags(table, 0x10) == "0x10 /* T_??? */"
    assert format_flags(table, 1 << 40) == "T_NONE"  # C int: the high half is not the value


def test_enum_without_unknown_comment_prints_decimal() -> None:
    table = enum_table("E", {1: "E_ONE"}, unknown=None)
    assert format_flags(table, 1) == "E_ONE"
    assert format_flags(table, 7) == "7"
