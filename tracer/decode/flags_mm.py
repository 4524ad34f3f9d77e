"""Memory-management flags: mmap, mprotect, madvise, mremap, msync, mlock.

Orders follow strace 6.1's tables (mmap's flags are not sorted by value there).
"""

from __future__ import annotations

from typing import Final

from tracer.decode.xlat import enum_table, flag_table, format_flags

PROT: Final = flag_table(
    "PROT",
    {
        0x1: "PROT_READ",
        0x2: "PROT_WRITE",
        0x4: "PROT_EXEC",
        0x8: "PROT_SEM",
        0x01000000: "PROT_GROWSDOWN",
        0x02000000: "PROT_GROWSUP",
    },
    zero="PROT_NONE",
)

MAP_TYPE: Final = enum_table(
    "MAP",
    {0: "MAP_FILE", 1: "MAP_SHARED", 2: "MAP_PRIVATE", 3: "MAP_SHARED_VALIDATE"},
)

MAP: Final = flag_table(
    "MAP",
    (
        (0x10, "MAP_FIXED"),
        (0x20, "MAP_ANONYMOUS"),
        (0x40, "MAP_32BIT"),
        (0x4000, "MAP_NORESERVE"),
        (0x8000, "MAP_POPULATE"),
        (0x10000, "MAP_NONBLOCK"),
        (0x100, "MAP_GROWSDOWN"),
        (0x800, "MAP_DENYWRITE"),
        (0x1000, "MAP_EXECUTABLE"),
        (0x2000, "MAP_LOCKED"),
        (0x20000, "MAP_STACK"),
        (0x40000, "MAP_HUGETLB"),
        (0x80000, "MAP_SYNC"),
        (0x100000, "MAP_FIXED_NOREPLACE"),
        (0x4000000, "MAP_UNINITIALIZED"),
    ),
    field=MAP_TYPE,
    field_mask=0xF,
)

MAP_HUGE_SHIFT: Final = 26
MAP_HUGE_MASK: Final = 0x3F


def format_mmap_flags(value: int) -> str:
    """`MAP_PRIVATE|MAP_ANONYMOUS`; the huge-page size field prints as `21<<MAP_HUGE_SHIFT`."""
    value &= 0xFFFFFFFF
    huge = (value >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK
    text = format_flags(MAP, value & ~(MAP_HUGE_MASK << MAP_HUGE_SHIFT))
    return f"{text}|{huge}<<MAP_HUGE_SHIFT" if huge else text


MADV: Final = enum_table(
    "MADV",
    {
        0: "MADV_NORMAL",
        1: "MADV_RANDOM",
        2: "MADV_SEQUENTIAL",
        3: "MADV_WILLNEED",
        4: "MADV_DONTNEED",
        8: "MADV_FREE",
        9: "MADV_REMOVE",
        10: "MADV_DONTFORK",
        11: "MADV_DOFORK",
        12: "MADV_MERGEABLE",
        13: "MADV_UNMERGEABLE",
        14: "MADV_HUGEPAGE",
        15: "MADV_NOHUGEPAGE",
        16: "MADV_DONTDUMP",
        17: "MADV_DODUMP",
        18: "MADV_WIPEONFORK",
        19: "MADV_KEEPONFORK",
        20: "MADV_COLD",
        21: "MADV_PAGEOUT",
        22: "MADV_POPULATE_READ",
        23: "MADV_POPULATE_WRITE",
        24: "MADV_DONTNEED_LOCKED",
        25: "MADV_COLLAPSE",
        100: "MADV_HWPOISON",
        101: "MADV_SOFT_OFFLINE",
        102: "MADV_GUARD_INSTALL",
        103: "MADV_GUARD_REMOVE",
    },
)

MREMAP: Final = flag_table(
    "MREMAP", {0x1: "MREMAP_MAYMOVE", 0x2: "MREMAP_FIXED", 0x4: "MREMAP_DONTUNMAP"}
)

MS: Final = flag_table("MS", ((0x4, "MS_SYNC"), (0x1, "MS_ASYNC"), (0x2, "MS_INVALIDATE")))

MLOCK: Final = flag_table("MLOCK", {0x1: "MLOCK_ONFAULT"})

MCL: Final = flag_table("MCL", {0x1: "MCL_CURRENT", 0x2: "MCL_FUTURE", 0x4: "MCL_ONFAULT"})

MFD: Final = flag_table(
    "MFD",
    {
        0x1: "MFD_CLOEXEC",
        0x2: "MFD_ALLOW_SEALING",
        0x4: "MFD_HUGETLB",
        0x8: "MFD_NOEXEC_SEAL",
        0x10: "MFD_EXEC",
    },
)

TABLES: Final = (PROT, MADV, MREMAP, MS, MLOCK, MCL, MFD)
"""Tables printed by the generic formatters (MAP has its own, `format_mmap_flags`)."""
