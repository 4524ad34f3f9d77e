"""strace-style lines. Unless marked otherwise, each expected line is what strace 6.1 printed on
this project's development machine for the same registers and memory."""

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


BRIEF_EXAMPLES = [
    ("arch_prctl", [0x1002, 0x4C8380], 0, {}, "arch_prctl(ARCH_SET_FS, 0x4c8380) = 0"),
    (
        "readlink",
        [0x1000, 0x2000, 4096],
        6,
        {0: b"/proc/self/exe", 1: b"/hello"},
        'readlink("/proc/self/exe", "/hello", 4096) = 6',
    ),
    (
        "readlink",
        [0x1000, 0x7FFC1234, 4096],
        -2,
        {0: b"/proc/self/exe"},
        'readlink("/proc/self/exe", 0x7ffc1234, 4096) = -1 ENOENT (No such file or directory)',
    ),
    (
        "write",
        [1, 0x1000, 14],
        14,
        {1: b"Hello, world!\n"},
        'write(1, "Hello, world!\\n", 14) = 14',
    ),
    (
        "mmap",
        [0, 8192, 3, 0x22, -1, 0],
        0x7F0000000000,
        {},
        "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000",
    ),
    ("brk", [0], 0x4C9000, {}, "brk(NULL) = 0x4c9000"),
    ("exit_group", [0], None, {}, "exit_group(0) = ?"),
]


@pytest.mark.parametrize(("name", "args", "ret", "memory", "expected"), BRIEF_EXAMPLES)
def test_brief_examples(
    name: str, args: list[int], ret: int | None, memory: dict[int, bytes | None], expected: str
) -> None:
    assert line(name, args, ret, memory) == expected


def test_unknown_syscall_prints_six_hex_arguments() -> None:
    assert (
        format_syscall(999, [1, 2, 3, 4, 5, 6], -38 & U64, {})
        == "syscall_0x3e7(0x1, 0x2, 0x3, 0x4, 0x5, 0x6) = -1 ENOSYS (Function not implemented)"
    )
    assert format_syscall(500, [0, 0, 0, 0, 0x7F, 7], 0, {}) == (
        "syscall_0x1f4(0, 0, 0, 0, 0x7f, 0x7) = 0"
    )


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
    ("io_uring_setup", [8, 0], -14, {}, "io_uring_setup(8, NULL) = -1 EFAULT (Bad address)"),
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
