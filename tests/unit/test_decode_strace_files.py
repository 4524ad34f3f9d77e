"""strace lines for file and descriptor syscalls, each as strace 6.1 printed it on this
project's development machine for the same registers and memory."""

from __future__ import annotations

import pytest

from tracer.decode.strace import format_syscall
from tracer.decode.syscall_table import syscall_number

U64 = (1 << 64) - 1
ELF_HEADER = (
    b"\x7fELF\x02\x01\x01\x03" + bytes(8) + b"\x03\x00>\x00\x01\x00\x00\x00\x10t\x02" + bytes(5)
)
PYC_HEADER = b"\xa7\r\r\n\0\0\0\0\xc5\xe3\xfei\xb4E\0\0\xe3" + bytes(12) + b"\x07\0\0"
PHDR = b"\x06\0\0\0\x04\0\0\0" + (b"@" + bytes(7)) * 3


def line(name: str, args: list[int], ret: int | None, memory: dict[int, bytes | None]) -> str:
    """Format as the capture would hand values over: unsigned 64-bit registers."""
    nr = syscall_number(name)
    assert nr is not None, name
    raw_ret = None if ret is None else ret & U64
    return format_syscall(nr, [a & U64 for a in args], raw_ret, memory)


MEM = 0x1000  # a user address; its contents are given as `memory`

RECORDED = [
    ("write", [1, MEM, 7], 7, {1: b"MARKER\n"}, 'write(1, "MARKER\\n", 7) = 7'),
    (
        "write",
        [2, MEM, 40],
        40,
        {1: bytes(range(33))},
        'write(2, "\\0\\1\\2\\3\\4\\5\\6\\7\\10\\t\\n\\v\\f\\r\\16\\17\\20\\21\\22\\23\\24\\25'
        '\\26\\27\\30\\31\\32\\33\\34\\35\\36\\37"..., 40) = 40',
    ),
    (
        "write",
        [2, MEM, 25],
        25,
        {1: b"\x00123\x01\x0289\t\n\r\v\f\a\b\x1b\"\\'?ab\x7f\x80\xff"},
        'write(2, "\\000123\\1\\289\\t\\n\\r\\v\\f\\7\\10\\33\\"\\\\\'?ab\\177\\200\\377", 25)'
        " = 25",
    ),
    ("write", [2, MEM, 4], 4, {1: b"abc\0"}, 'write(2, "abc\\0", 4) = 4'),
    ("write", [2, MEM, 0], 0, {}, 'write(2, "", 0) = 0'),
    ("write", [2, 0, 0], 0, {}, "write(2, NULL, 0) = 0"),
    (
        "write",
        [2, 0xFFFFFFFFDEAD0000, 5],
        -14,
        {1: None},
        "write(2, 0xffffffffdead0000, 5) = -1 EFAULT (Bad address)",
    ),
    ("write", [0xFFFFFFFF, 0, 0], -9, {}, "write(-1, NULL, 0) = -1 EBADF (Bad file descriptor)"),
    ("write", [0x1FFFFFFFF, 0, 0], -9, {}, "write(-1, NULL, 0) = -1 EBADF (Bad file descriptor)"),
    ("read", [-1, 0, 10], -9, {}, "read(-1, NULL, 10) = -1 EBADF (Bad file descriptor)"),
    (
        "read",
        [99, 0, U64],
        -9,
        {},
        "read(99, NULL, 18446744073709551615) = -1 EBADF (Bad file descriptor)",
    ),
    (
        "read",
        [3, MEM, 832],
        832,
        {1: ELF_HEADER},
        'read(3, "\\177ELF\\2\\1\\1\\3\\0\\0\\0\\0\\0\\0\\0\\0\\3\\0>\\0\\1\\0\\0\\0\\20t'
        '\\2\\0\\0\\0\\0\\0"..., 832) = 832',
    ),
    (
        "read",
        [3, MEM, 26824],
        26823,
        {1: PYC_HEADER},
        'read(3, "\\247\\r\\r\\n\\0\\0\\0\\0\\305\\343\\376i\\264E\\0\\0\\343\\0\\0\\0\\0\\0\\0\\0'
        '\\0\\0\\0\\0\\0\\7\\0\\0"..., 26824) = 26823',
    ),
    ("read", [3, MEM, 200], 0, {}, 'read(3, "", 200) = 0'),
    ("read", [3, MEM, 200], 6, {1: b"hello\n"}, 'read(3, "hello\\n", 200) = 6'),
    (
        "read",
        [3, MEM, 4096],
        2996,
        {1: b"# Locale name alias data base.\n#"},
        'read(3, "# Locale name alias data base.\\n#"..., 4096) = 2996',
    ),
    (
        "pread64",
        [3, MEM, 784, 64],
        784,
        {1: PHDR},
        'pread64(3, "\\6\\0\\0\\0\\4\\0\\0\\0@\\0\\0\\0\\0\\0\\0\\0@\\0\\0\\0\\0\\0\\0\\0@'
        '\\0\\0\\0\\0\\0\\0\\0"..., 784, 64) = 784',
    ),
    ("pread64", [3, 0, 5, 7], -9, {}, "pread64(3, NULL, 5, 7) = -1 EBADF (Bad file descriptor)"),
    ("pread64", [99, 0, 5, -5], -22, {}, "pread64(99, NULL, 5, -5) = -1 EINVAL (Invalid argument)"),
    (
        "pwrite64",
        [3, MEM, 3, 7],
        -9,
        {1: b"abc"},
        'pwrite64(3, "abc", 3, 7) = -1 EBADF (Bad file descriptor)',
    ),
    ("write", [2, MEM, 32], 32, {1: b"x" * 32}, f'write(2, "{"x" * 32}", 32) = 32'),
    ("write", [2, MEM, 33], 33, {1: b"x" * 33}, f'write(2, "{"x" * 32}"..., 33) = 33'),
    ("write", [2, MEM, 40], 40, {1: b"x" * 33}, f'write(2, "{"x" * 32}"..., 40) = 40'),
    (
        "openat",
        [-100, MEM, 0o2000000],
        3,
        {1: b"/etc/ld.so.cache"},
        'openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3',
    ),
    (
        "openat",
        [-100, MEM, 0o2000101, 0o644],
        3,
        {1: b"/nonexist"},
        'openat(AT_FDCWD, "/nonexist", O_WRONLY|O_CREAT|O_CLOEXEC, 0644) = 3',
    ),
    ("openat", [5, MEM, 0x80000003], 4, {1: b"/x"}, 'openat(5, "/x", O_ACCMODE|0x80000000) = 4'),
    (
        "openat",
        [0xFFFFFF9C, MEM, 0o100, 0o7777],
        5,
        {1: b"/x"},
        'openat(AT_FDCWD, "/x", O_RDONLY|O_CREAT, 07777) = 5',
    ),
    (
        "openat",
        [-100, 0, 0o20000000, 0],
        -22,
        {},
        "openat(AT_FDCWD, NULL, O_RDONLY|__O_TMPFILE, 000) = -1 EINVAL (Invalid argument)",
    ),
    (
        "openat",
        [-100, MEM, 0o2000000],
        -2,
        {1: b"/usr/lib/locale/locale-archive"},
        'openat(AT_FDCWD, "/usr/lib/locale/locale-archive", O_RDONLY|O_CLOEXEC) = -1 ENOENT'
        " (No such file or directory)",
    ),
    (
        "open",
        [0, 0o100, 0o644],
        -14,
        {},
        "open(NULL, O_RDONLY|O_CREAT, 0644) = -1 EFAULT (Bad address)",
    ),
    ("open", [0, 0, 0o644], -14, {}, "open(NULL, O_RDONLY) = -1 EFAULT (Bad address)"),
    ("creat", [0, 0o644], -14, {}, "creat(NULL, 0644) = -1 EFAULT (Bad address)"),
    ("close", [3], 0, {}, "close(3) = 0"),
    ("close", [5], -9, {}, "close(5) = -1 EBADF (Bad file descriptor)"),
    (
        "newfstatat",
        [-100, MEM, 0, 0x1000],
        -14,
        {1: b""},
        'newfstatat(AT_FDCWD, "", NULL, AT_EMPTY_PATH) = -1 EFAULT (Bad address)',
    ),
    (
        "newfstatat",
        [0x80000000, 0, 0, 0],
        -14,
        {},
        "newfstatat(-2147483648, NULL, NULL, 0) = -1 EFAULT (Bad address)",
    ),
    (
        "statx",
        [-100, MEM, 0x800, 0x7FF, 0],
        -2,
        {1: b"a"},
        'statx(AT_FDCWD, "a", AT_STATX_SYNC_AS_STAT|AT_NO_AUTOMOUNT, STATX_BASIC_STATS, NULL)'
        " = -1 ENOENT (No such file or directory)",
    ),
    (
        "unlinkat",
        [-100, MEM, 0x200],
        -2,
        {1: b"zz"},
        'unlinkat(AT_FDCWD, "zz", AT_REMOVEDIR) = -1 ENOENT (No such file or directory)',
    ),
    (
        "readlinkat",
        [-100, MEM, 0, 10],
        -2,
        {1: b"a"},
        'readlinkat(AT_FDCWD, "a", NULL, 10) = -1 ENOENT (No such file or directory)',
    ),
    (
        "faccessat",
        [-100, MEM, 4],
        -2,
        {0: None, 1: b"a"},
        'faccessat(AT_FDCWD, "a", R_OK) = -1 ENOENT (No such file or directory)',
    ),
    (
        "access",
        [MEM, 0],
        -2,
        {0: b"a" * 40},
        f'access("{"a" * 40}", F_OK) = -1 ENOENT (No such file or directory)',
    ),
    (
        "access",
        [MEM, 7],
        -2,
        {0: b"\xff\x01"},
        'access("\\377\\1", R_OK|W_OK|X_OK) = -1 ENOENT (No such file or directory)',
    ),
    (
        "access",
        [MEM, 8],
        -22,
        {0: b""},
        'access("", 0x8 /* ?_OK */) = -1 EINVAL (Invalid argument)',
    ),
    (
        "readlink",
        [MEM, 0, 4096],
        -14,
        {0: b"/proc/self/exe"},
        'readlink("/proc/self/exe", NULL, 4096) = -1 EFAULT (Bad address)',
    ),
    ("readlink", [0, 0, 4096], -14, {}, "readlink(NULL, NULL, 4096) = -1 EFAULT (Bad address)"),
    (
        "readlink",
        [1, 0, 4096],
        -14,
        {0: None},
        "readlink(0x1, NULL, 4096) = -1 EFAULT (Bad address)",
    ),
    (
        "readlink",
        [MEM, 0x2000, 4096],
        43,
        {0: b"/proc/self/exe", 1: b"/root/.pyenv/versions/3.11.7/bin/"},
        'readlink("/proc/self/exe", "/root/.pyenv/versions/3.11.7/bin"..., 4096) = 43',
    ),
    ("getcwd", [MEM, 200], 12, {0: b"/tmp/expdir"}, 'getcwd("/tmp/expdir", 200) = 12'),
    ("getcwd", [0, 10], -34, {}, "getcwd(NULL, 10) = -1 ERANGE (Numerical result out of range)"),
    ("chdir", [MEM], 0, {0: b"/"}, 'chdir("/") = 0'),
    (
        "rename",
        [MEM, 0x2000],
        -2,
        {0: b"a", 1: b"b"},
        'rename("a", "b") = -1 ENOENT (No such file or directory)',
    ),
    ("mkdir", [MEM, 0o755], 0, {0: b"d"}, 'mkdir("d", 0755) = 0'),
    ("mkdir", [MEM, 0xFFFFFFFF], -17, {0: b"d"}, 'mkdir("d", 0177777) = -1 EEXIST (File exists)'),
    ("chmod", [MEM, 0o100755], 0, {0: b"d"}, 'chmod("d", 0100755) = 0'),
    ("umask", [0o22], 0o22, {}, "umask(022) = 022"),
    ("umask", [0o22], 0o777, {}, "umask(022) = 0777"),
    ("umask", [0o1777777], 0o22, {}, "umask(0177777) = 022"),
    ("lseek", [3, -5, 0], -22, {}, "lseek(3, -5, SEEK_SET) = -1 EINVAL (Invalid argument)"),
    ("lseek", [3, 5, 9], -22, {}, "lseek(3, 5, 0x9 /* SEEK_??? */) = -1 EINVAL (Invalid argument)"),
    ("lseek", [3, 0, 1], 0, {}, "lseek(3, 0, SEEK_CUR) = 0"),
    ("dup2", [1, 2], 2, {}, "dup2(1, 2) = 2"),
    ("dup", [-100], -9, {}, "dup(-100) = -1 EBADF (Bad file descriptor)"),
    ("dup3", [1, 2, 0o2000000], 2, {}, "dup3(1, 2, O_CLOEXEC) = 2"),
    ("pipe2", [0, 0o4000], -14, {}, "pipe2(NULL, O_NONBLOCK) = -1 EFAULT (Bad address)"),
    ("pipe", [0], -14, {}, "pipe(NULL) = -1 EFAULT (Bad address)"),
    ("poll", [0, 2, -1], -14, {}, "poll(NULL, 2, -1) = -1 EFAULT (Bad address)"),
    (
        "poll",
        [0, 0xFFFFFFFF, -1],
        -22,
        {},
        "poll(NULL, 4294967295, -1) = -1 EINVAL (Invalid argument)",
    ),
    (
        "select",
        [1, 0, 0, 0, 0],
        -514,
        {},
        "select(1, NULL, NULL, NULL, NULL) = ? ERESTARTNOHAND (To be restarted if no handler)",
    ),
    ("readv", [3, 0, 2], -9, {}, "readv(3, NULL, 2) = -1 EBADF (Bad file descriptor)"),
    (
        "ioctl",
        [1, 0x5401, 0],
        -25,
        {},
        "ioctl(1, TCGETS, NULL) = -1 ENOTTY (Inappropriate ioctl for device)",
    ),
    (
        "ioctl",
        [3, 0x5401, 0x7FFE925CAA50],
        -25,
        {},
        "ioctl(3, TCGETS, 0x7ffe925caa50) = -1 ENOTTY (Inappropriate ioctl for device)",
    ),
    (
        "ioctl",
        [1, 0x12345678, 0],
        -25,
        {},
        "ioctl(1, _IOC(_IOC_NONE, 0x56, 0x78, 0x1234), 0) = -1 ENOTTY"
        " (Inappropriate ioctl for device)",
    ),
    ("ioctl", [99, 0x5451, 0], -9, {}, "ioctl(99, FIOCLEX) = -1 EBADF (Bad file descriptor)"),
    ("ioctl", [99, 0x540E, 0], -9, {}, "ioctl(99, TIOCSCTTY, 0) = -1 EBADF (Bad file descriptor)"),
    ("ioctl", [99, 0x541C, 0], -9, {}, "ioctl(99, TIOCLINUX, 0) = -1 EBADF (Bad file descriptor)"),
    (
        "ioctl",
        [99, 0x5402, 0],
        -9,
        {},
        "ioctl(99, SNDCTL_TMR_START or TCSETS, NULL) = -1 EBADF (Bad file descriptor)",
    ),
    ("fcntl", [1, 1, 0], 0, {}, "fcntl(1, F_GETFD) = 0"),
    ("fcntl", [3, 1, 0], 1, {}, "fcntl(3, F_GETFD) = 0x1 (flags FD_CLOEXEC)"),
    ("fcntl", [3, 3, 0], 0x8002, {}, "fcntl(3, F_GETFL) = 0x8002 (flags O_RDWR|O_LARGEFILE)"),
    ("fcntl", [1, 2, 1], 0, {}, "fcntl(1, F_SETFD, FD_CLOEXEC) = 0"),
    ("fcntl", [3, 2, 0], 0, {}, "fcntl(3, F_SETFD, 0) = 0"),
    (
        "fcntl",
        [1, 0x63, 1],
        -22,
        {},
        "fcntl(1, 0x63 /* F_??? */, 0x1) = -1 EINVAL (Invalid argument)",
    ),
    ("fcntl", [1, 4, 0x800], 0, {}, "fcntl(1, F_SETFL, O_RDONLY|O_NONBLOCK) = 0"),
    ("fcntl", [1, 1030, 0], 6, {}, "fcntl(1, F_DUPFD_CLOEXEC, 0) = 6"),
    ("fcntl", [3, 9, 0], 0, {}, "fcntl(3, F_GETOWN) = 0"),
    ("fcntl", [3, 8, 0], 0, {}, "fcntl(3, F_SETOWN, 0) = 0"),
    ("fcntl", [3, 1032, 0], -9, {}, "fcntl(3, F_GETPIPE_SZ) = -1 EBADF (Bad file descriptor)"),
    ("fcntl", [3, 5, 0], -14, {}, "fcntl(3, F_GETLK, NULL) = -1 EFAULT (Bad address)"),
    ("fcntl", [3, 1025, 0], 2, {}, "fcntl(3, F_GETLEASE) = 0x2 (F_UNLCK)"),
    ("io_uring_setup", [8, 0], -14, {}, "io_uring_setup(8, NULL) = -1 EFAULT (Bad address)"),
]


@pytest.mark.parametrize(("name", "args", "ret", "memory", "expected"), RECORDED)
def test_recorded_strace_lines(
    name: str, args: list[int], ret: int | None, memory: dict[int, bytes | None], expected: str
) -> None:
    assert line(name, args, ret, memory) == expected
