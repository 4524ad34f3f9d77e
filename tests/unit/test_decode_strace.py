"""strace-style lines: the examples the decoding layer was specified with, and unknown numbers.

Lines recorded from strace 6.1 are in test_decode_strace_files.py and test_decode_strace_proc.py."""

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
