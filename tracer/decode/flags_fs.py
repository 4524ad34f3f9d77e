"""File and descriptor flags: open, *at, statx, access, lseek, fcntl, flock, ioctl requests.

Orders follow strace 6.1 (open flags: O_SYNC before its O_DSYNC bit, O_TMPFILE before
O_DIRECTORY, FASYNC last).
"""

from __future__ import annotations

from typing import Final, Literal

from tracer.decode.xlat import enum_table, flag_table, format_hex, to_signed

AT_FDCWD: Final = -100

_OPEN_BITS: Final = (
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o4010000, "O_SYNC"),
    (0o4000000, "__O_SYNC"),
    (0o10000, "O_DSYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o10000000, "O_PATH"),
    (0o20200000, "O_TMPFILE"),
    (0o20000000, "__O_TMPFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o20000, "FASYNC"),
)

O_CREAT: Final = 0o100
O_TMPFILE_BIT: Final = 0o20000000

O_ACCMODE: Final = enum_table("O", {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR", 3: "O_ACCMODE"})

OPEN: Final = flag_table("O", _OPEN_BITS, field=O_ACCMODE, field_mask=0o3)
"""Open flags with the access mode first: `O_RDONLY|O_CLOEXEC`."""

O_FLAGS: Final = flag_table("O_FLAGS", _OPEN_BITS, unknown="O_???")
"""Open-style flags without an access mode (dup3, pipe2, inotify_init1, ...)."""

_AT_BITS: Final = (
    (0x100, "AT_SYMLINK_NOFOLLOW"),
    (0x200, "AT_REMOVEDIR"),
    (0x400, "AT_SYMLINK_FOLLOW"),
    (0x800, "AT_NO_AUTOMOUNT"),
    (0x1000, "AT_EMPTY_PATH"),
    (0x8000, "AT_RECURSIVE"),
)

AT: Final = flag_table("AT", _AT_BITS)

AT_STATX_SYNC: Final = enum_table(
    "AT_STATX",
    {
        0: "AT_STATX_SYNC_AS_STAT",
        0x2000: "AT_STATX_FORCE_SYNC",
        0x4000: "AT_STATX_DONT_SYNC",
        0x6000: "AT_STATX_FORCE_SYNC|AT_STATX_DONT_SYNC",
    },
)

AT_STATX: Final = flag_table("AT_STATX", _AT_BITS, field=AT_STATX_SYNC, field_mask=0x6000)
"""statx's flags: the sync type always printed first, then the AT_* bits."""

STATX: Final = flag_table(
    "STATX",
    (
        (0xFFF, "STATX_ALL"),
        (0x7FF, "STATX_BASIC_STATS"),
        (0x1, "STATX_TYPE"),
        (0x2, "STATX_MODE"),
        (0x4, "STATX_NLINK"),
        (0x8, "STATX_UID"),
        (0x10, "STATX_GID"),
        (0x20, "STATX_ATIME"),
        (0x40, "STATX_MTIME"),
        (0x80, "STATX_CTIME"),
        (0x100, "STATX_INO"),
        (0x200, "STATX_SIZE"),
        (0x400, "STATX_BLOCKS"),
        (0x800, "STATX_BTIME"),
        (0x1000, "STATX_MNT_ID"),
        (0x2000, "STATX_DIOALIGN"),
        (0x4000, "STATX_MNT_ID_UNIQUE"),
        (0x8000, "STATX_SUBVOL"),
        (0x10000, "STATX_WRITE_ATOMIC"),
    ),
)

ACCESS: Final = flag_table(
    "ACCESS", ((0x4, "R_OK"), (0x2, "W_OK"), (0x1, "X_OK")), zero="F_OK", unknown="?_OK"
)

SEEK: Final = enum_table(
    "SEEK", {0: "SEEK_SET", 1: "SEEK_CUR", 2: "SEEK_END", 3: "SEEK_DATA", 4: "SEEK_HOLE"}
)

F: Final = enum_table(
    "F",
    {
        0: "F_DUPFD",
        1: "F_GETFD",
        2: "F_SETFD",
        3: "F_GETFL",
        4: "F_SETFL",
        5: "F_GETLK",
        6: "F_SETLK",
        7: "F_SETLKW",
        8: "F_SETOWN",
        9: "F_GETOWN",
        10: "F_SETSIG",
        11: "F_GETSIG",
        15: "F_SETOWN_EX",
        16: "F_GETOWN_EX",
        17: "F_GETOWNER_UIDS",
        36: "F_OFD_GETLK",
        37: "F_OFD_SETLK",
        38: "F_OFD_SETLKW",
        1024: "F_SETLEASE",
        1025: "F_GETLEASE",
        1026: "F_NOTIFY",
        1027: "F_DUPFD_QUERY",
        1030: "F_DUPFD_CLOEXEC",
        1031: "F_SETPIPE_SZ",
        1032: "F_GETPIPE_SZ",
        1033: "F_ADD_SEALS",
        1034: "F_GET_SEALS",
        1035: "F_GET_RW_HINT",
        1036: "F_SET_RW_HINT",
        1037: "F_GET_FILE_RW_HINT",
        1038: "F_SET_FILE_RW_HINT",
    },
)
"""fcntl commands (on x86-64 F_GETLK64 and friends equal the plain ones)."""

FD: Final = flag_table("FD", {0x1: "FD_CLOEXEC"})

F_LEASE: Final = enum_table("F_LEASE", {0: "F_RDLCK", 1: "F_WRLCK", 2: "F_UNLCK"}, unknown="F_???")

LOCK: Final = flag_table(
    "LOCK",
    {
        0x1: "LOCK_SH",
        0x2: "LOCK_EX",
        0x4: "LOCK_NB",
        0x8: "LOCK_UN",
        0x20: "LOCK_MAND",
        0x40: "LOCK_READ",
        0x80: "LOCK_WRITE",
    },
)

RENAME: Final = flag_table(
    "RENAME", {0x1: "RENAME_NOREPLACE", 0x2: "RENAME_EXCHANGE", 0x4: "RENAME_WHITEOUT"}
)

EPOLL_CTL: Final = enum_table(
    "EPOLL_CTL", {1: "EPOLL_CTL_ADD", 2: "EPOLL_CTL_DEL", 3: "EPOLL_CTL_MOD"}
)

EPOLL: Final = flag_table("EPOLL", {0o2000000: "EPOLL_CLOEXEC"})

EFD: Final = flag_table(
    "EFD", {0x1: "EFD_SEMAPHORE", 0o2000000: "EFD_CLOEXEC", 0o4000: "EFD_NONBLOCK"}
)

TABLES: Final = (
    OPEN,
    O_FLAGS,
    AT,
    AT_STATX,
    STATX,
    ACCESS,
    SEEK,
    F,
    FD,
    F_LEASE,
    LOCK,
    RENAME,
    EPOLL_CTL,
    EPOLL,
    EFD,
)


def format_dirfd(value: int) -> str:
    """`AT_FDCWD` for -100, else the descriptor as a C int."""
    fd = to_signed(value, 32)
    return "AT_FDCWD" if fd == AT_FDCWD else str(fd)


def format_mode(value: int) -> str:
    """A `umode_t` (16 bits) as strace's `%#03o`: `0644`, `000`, `022`."""
    return f"0{value & 0xFFFF:o}".rjust(3, "0")


IoctlArg = Literal["none", "ptr", "int", "hex"]
"""How the third ioctl argument prints for a request: absent, pointer, decimal, hex."""

_P: Final = "ptr"

IOCTL: Final[dict[int, tuple[str, IoctlArg]]] = {
    0x1: ("FIBMAP", "hex"),
    0x2: ("FIGETBSZ", _P),
    0x5401: ("TCGETS", _P),
    # strace 6.1 lists the OSS timer requests that share these numbers first.
    0x5402: ("SNDCTL_TMR_START or TCSETS", _P),
    0x5403: ("SNDCTL_TMR_STOP or TCSETSW", _P),
    0x5404: ("SNDCTL_TMR_CONTINUE or TCSETSF", _P),
    0x5405: ("TCGETA", _P),
    0x5406: ("TCSETA", _P),
    0x5407: ("TCSETAW", _P),
    0x5408: ("TCSETAF", _P),
    0x5409: ("TCSBRK", "int"),
    0x540A: ("TCXONC", "int"),
    0x540B: ("TCFLSH", "int"),
    0x540C: ("TIOCEXCL", "none"),
    0x540D: ("TIOCNXCL", "none"),
    0x540E: ("TIOCSCTTY", "int"),
    0x540F: ("TIOCGPGRP", _P),
    0x5410: ("TIOCSPGRP", _P),
    0x5411: ("TIOCOUTQ", _P),
    0x5412: ("TIOCSTI", _P),
    0x5413: ("TIOCGWINSZ", _P),
    0x5414: ("TIOCSWINSZ", _P),
    0x5415: ("TIOCMGET", _P),
    0x5416: ("TIOCMBIS", _P),
    0x5417: ("TIOCMBIC", _P),
    0x5418: ("TIOCMSET", _P),
    0x541B: ("FIONREAD", _P),
    0x541C: ("TIOCLINUX", "hex"),
    0x541D: ("TIOCCONS", "none"),
    0x5420: ("TIOCPKT", _P),
    0x5421: ("FIONBIO", _P),
    0x5422: ("TIOCNOTTY", "none"),
    0x5423: ("TIOCSETD", _P),
    0x5424: ("TIOCGETD", _P),
    0x5425: ("TCSBRKP", "int"),
    0x5427: ("TIOCSBRK", "none"),
    0x5428: ("TIOCCBRK", "none"),
    0x5429: ("TIOCGSID", _P),
    0x802C542A: ("TCGETS2", _P),
    0x402C542B: ("TCSETS2", _P),
    0x80045430: ("TIOCGPTN", _P),
    0x40045431: ("TIOCSPTLCK", _P),
    0x5441: ("TIOCGPTPEER", "int"),
    0x5450: ("FIONCLEX", "none"),
    0x5451: ("FIOCLEX", "none"),
    0x5452: ("FIOASYNC", _P),
    0x5460: ("FIOQSIZE", _P),
    0x80086601: ("FS_IOC_GETFLAGS", _P),
    0x40086602: ("FS_IOC_SETFLAGS", _P),
    0x80081272: ("BLKGETSIZE64", _P),
}
"""A few ioctl requests by number; the rest decode as `_IOC(dir, type, nr, size)`."""

_IOC_DIRS: Final = ("_IOC_NONE", "_IOC_WRITE", "_IOC_READ", "_IOC_READ|_IOC_WRITE")


def format_ioctl_request(value: int) -> str:
    """`TCGETS`, or strace's `_IOC(_IOC_READ, 0x54, 0x13, 0x8)` for requests not listed."""
    value &= 0xFFFFFFFF
    known = IOCTL.get(value)
    if known is not None:
        return known[0]
    direction = _IOC_DIRS[value >> 30]
    ioc_type, ioc_nr, size = (value >> 8) & 0xFF, value & 0xFF, (value >> 16) & 0x3FFF
    return f"_IOC({direction}, {format_hex(ioc_type)}, {format_hex(ioc_nr)}, {format_hex(size)})"


def ioctl_arg_style(request: int) -> IoctlArg:
    known = IOCTL.get(request & 0xFFFFFFFF)
    return known[1] if known is not None else "hex"
