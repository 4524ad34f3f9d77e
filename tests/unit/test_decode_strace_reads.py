"""Memory-read planning, string cutting and escaping, sign handling, return values."""

from __future__ import annotations

import pytest

from tracer.decode.quoting import format_buffer, quote_bytes
from tracer.decode.strace import (
    BUF_READ_CAP,
    PATH_READ_CAP,
    STR_READ_CAP,
    MemRead,
    entry_reads,
    exit_reads,
    format_args,
    format_return,
    format_syscall,
)
from tracer.decode.syscall_table import syscall_number

U64 = (1 << 64) - 1
ADDR = 0x7FFC0000


def nr(name: str) -> int:
    number = syscall_number(name)
    assert number is not None
    return number


def test_caps() -> None:
    assert (STR_READ_CAP, BUF_READ_CAP, PATH_READ_CAP) == (33, 33, 4096)


def test_entry_reads_paths_strings_and_input_buffers() -> None:
    assert entry_reads(nr("openat"), [-100 & U64, ADDR, 0, 0]) == [
        MemRead(1, ADDR, PATH_READ_CAP, "cstr")
    ]
    assert entry_reads(nr("write"), [1, ADDR, 14]) == [MemRead(1, ADDR, 14, "buf")]
    assert entry_reads(nr("write"), [1, ADDR, 100000]) == [MemRead(1, ADDR, 33, "buf")]
    assert entry_reads(nr("memfd_create"), [ADDR, 0]) == [MemRead(0, ADDR, STR_READ_CAP, "cstr")]
    assert entry_reads(nr("rename"), [ADDR, ADDR + 64]) == [
        MemRead(0, ADDR, PATH_READ_CAP, "cstr"),
        MemRead(1, ADDR + 64, PATH_READ_CAP, "cstr"),
    ]


def test_entry_reads_skip_null_pointers_empty_buffers_and_output_buffers() -> None:
    assert entry_reads(nr("openat"), [-100 & U64, 0, 0, 0]) == []
    assert entry_reads(nr("write"), [1, ADDR, 0]) == []
    assert entry_reads(nr("write"), [1, 0, 5]) == []
    assert entry_reads(nr("read"), [0, ADDR, 100]) == []
    assert entry_reads(nr("getpid"), []) == []
    assert entry_reads(999, [ADDR] * 6) == []


def test_exit_reads_output_buffers_sized_by_the_result() -> None:
    assert exit_reads(nr("read"), [3, ADDR, 832], 832) == [MemRead(1, ADDR, 33, "buf")]
    assert exit_reads(nr("read"), [3, ADDR, 832], 6) == [MemRead(1, ADDR, 6, "buf")]
    assert exit_reads(nr("readlink"), [ADDR, ADDR + 64, 4096], 6) == [
        MemRead(1, ADDR + 64, 6, "buf")
    ]
    assert exit_reads(nr("getrandom"), [ADDR, 8, 1], 8) == [MemRead(0, ADDR, 8, "buf")]
    assert exit_reads(nr("getcwd"), [ADDR, 200], 12) == [MemRead(0, ADDR, 12, "cstr")]


def test_exit_reads_nothing_after_failure_or_empty_result() -> None:
    assert exit_reads(nr("read"), [3, ADDR, 832], -14 & U64) == []
    assert exit_reads(nr("read"), [3, ADDR, 832], 0) == []
    assert exit_reads(nr("getcwd"), [ADDR, 10], -34 & U64) == []
    assert exit_reads(nr("write"), [1, ADDR, 14], 14) == []


def test_exit_rereads_entry_memory_that_was_not_readable() -> None:
    args = [ADDR, ADDR + 64, 4096]
    assert exit_reads(nr("readlink"), args, 6, {0: None}) == [
        MemRead(0, ADDR, PATH_READ_CAP, "cstr"),
        MemRead(1, ADDR + 64, 6, "buf"),
    ]
    assert exit_reads(nr("readlink"), args, 6, {0: b"/proc/self/exe"}) == [
        MemRead(1, ADDR + 64, 6, "buf")
    ]
    assert exit_reads(nr("write"), [1, ADDR, 5], 5, {}) == [MemRead(1, ADDR, 5, "buf")]


@pytest.mark.parametrize(
    ("data", "quoted"),
    [
        (b"", '""'),
        (b"plain text", '"plain text"'),
        (b'say "hi"\\', '"say \\"hi\\"\\\\"'),
        (b"\t\n\v\f\r", '"\\t\\n\\v\\f\\r"'),
        (b"\a\b\x1b", '"\\7\\10\\33"'),
        (b"\x00", '"\\0"'),
        (b"\x001", '"\\0001"'),  # an octal digit follows: three digits
        (b"\x008", '"\\08"'),  # 8 is not octal
        (b"\x01\x02", '"\\1\\2"'),
        (b"\x7f\x80\xff", '"\\177\\200\\377"'),
        (b"caf\xc3\xa9", '"caf\\303\\251"'),
    ],
)
def test_quote_bytes(data: bytes, quoted: str) -> None:
    assert quote_bytes(data) == quoted


def test_hex_quoting_escapes_every_byte() -> None:
    assert quote_bytes(b"xy\x00", hex_escape=True) == '"\\x78\\x79\\x00"'


def test_octal_lookahead_stops_at_the_32_byte_cut() -> None:
    data = b"a" * 31 + b"\x01" + b"7"
    assert format_buffer(data, 40) == '"' + "a" * 31 + '\\1"...'


def test_buffer_shorter_than_its_length_is_marked_cut() -> None:
    assert format_buffer(b"abc", 10) == '"abc"...'
    assert format_buffer(b"abcdef", 3) == '"abc"'


def test_plain_strings_are_cut_at_32_bytes_paths_are_not() -> None:
    name = b"n" * 40
    memfd = nr("memfd_create")
    assert format_syscall(memfd, [ADDR, 1], 3, {0: name[:33]}) == (
        f'memfd_create("{"n" * 32}"..., MFD_CLOEXEC) = 3'
    )
    assert format_syscall(memfd, [ADDR, 1], 3, {0: name[:32]}) == (
        f'memfd_create("{"n" * 32}", MFD_CLOEXEC) = 3'
    )
    long_path = b"/" + b"p" * 299
    assert format_syscall(nr("chdir"), [ADDR], 0, {0: long_path}) == (
        f'chdir("{long_path.decode()}") = 0'
    )
    unterminated = b"q" * PATH_READ_CAP
    assert format_syscall(nr("chdir"), [ADDR], 0, {0: unterminated}) == (
        f'chdir("{"q" * PATH_READ_CAP}"...) = 0'
    )


def test_unreadable_or_unread_memory_prints_the_address() -> None:
    assert format_syscall(nr("chdir"), [ADDR], 0, {0: None}) == "chdir(0x7ffc0000) = 0"
    assert format_syscall(nr("chdir"), [ADDR], 0, {}) == "chdir(0x7ffc0000) = 0"
    assert format_syscall(nr("read"), [3, ADDR, 9], 9, {}) == "read(3, 0x7ffc0000, 9) = 9"


def test_output_buffers_print_as_addresses_before_the_result_is_known() -> None:
    assert format_syscall(nr("read"), [3, ADDR, 9], None, {1: b"ignored"}) == (
        "read(3, 0x7ffc0000, 9) = ?"
    )


@pytest.mark.parametrize(
    ("name", "args", "shown"),
    [
        ("close", [0xFFFFFFFF], ["-1"]),
        ("close", [0xFFFFFFFF00000003], ["3"]),
        ("lseek", [3, (-5) & U64, 0], ["3", "-5", "SEEK_SET"]),
        ("lseek", [3, 0xFFFFFFFB, 0], ["3", "4294967291", "SEEK_SET"]),
        ("alarm", [0x1FFFFFFFF], ["4294967295"]),
        ("munmap", [ADDR, U64], ["0x7ffc0000", "18446744073709551615"]),
        ("kill", [(-1) & U64, 0x10000000B], ["-1", "SIGSEGV"]),
        ("openat", [(-100) & U64, 0, 0], ["AT_FDCWD", "NULL", "O_RDONLY"]),
        ("openat", [0xFFFFFF9C, 0, 0], ["AT_FDCWD", "NULL", "O_RDONLY"]),
        (
            "mmap",
            [0, 1, 0, 0x100000022, U64, 0],
            ["NULL", "1", "PROT_NONE", "MAP_PRIVATE|MAP_ANONYMOUS", "-1", "0"],
        ),
        ("preadv", [3, ADDR, 2, 5, 9], ["3", "0x7ffc0000", "2", "5"]),
    ],
)
def test_sign_and_width_handling(name: str, args: list[int], shown: list[str]) -> None:
    assert format_args(nr(name), args) == shown


@pytest.mark.parametrize(
    ("name", "ret", "args", "text"),
    [
        ("read", 5, [], "5"),
        ("read", 0, [], "0"),
        ("read", (-2) & U64, [], "-1 ENOENT (No such file or directory)"),
        ("read", (-4095) & U64, [], "-1 4095 (Unknown error 4095)"),
        ("read", (-4096) & U64, [], "-4096"),
        ("read", (-512) & U64, [], "? ERESTARTSYS (To be restarted if SA_RESTART is set)"),
        ("lseek", 1 << 40, [], "1099511627776"),
        ("mmap", 0x7F0000000000, [], "0x7f0000000000"),
        ("mmap", (-12) & U64, [], "-1 ENOMEM (Cannot allocate memory)"),
        ("brk", 0, [], "0"),
        ("mremap", 0x7F0000001000, [], "0x7f0000001000"),
        ("umask", 0, [], "0"),
        ("umask", 0o22, [], "022"),
        ("time", 0, [], "0 (1970-01-01T00:00:00+0000)"),
        ("fcntl", 0, [3, 1], "0"),
        ("fcntl", 0, [3, 3], "0 (flags O_RDONLY)"),
        ("fcntl", 5, [3, 0], "5"),
    ],
)
def test_format_return(name: str, ret: int, args: list[int], text: str) -> None:
    assert format_return(nr(name), ret, args) == text


def test_unknown_syscalls_return_decimal() -> None:
    assert format_return(999, 7) == "7"
