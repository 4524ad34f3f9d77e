"""Structures decoded like strace, against bytes captured from the guest's glibc and musl test
programs (guest/build/user/hello-*, allsyscalls-*), and the read plan that fetches them."""

from __future__ import annotations

import struct

import pytest

from tracer.decode.strace import (
    MemRead,
    entry_reads,
    exit_reads,
    follow_reads,
    format_syscall,
)
from tracer.decode.struct_format import format_makedev, format_sigset, format_st_mode
from tracer.decode.structs import IOV_KEY, LAYOUTS
from tracer.decode.syscall_table import syscall_number

U64 = (1 << 64) - 1

# Captured with `tracer capture --program guest/build/user/allsyscalls-glibc` (and -musl, hello-*):
# the stat of the guest's console (fd 1), the same bytes in both libcs.
STAT_CONSOLE = bytes.fromhex(
    "1800000000000000040000000000000001000000000000009021000000000000"
    "0500000000000000008800000000000000000000000000000004000000000000"
    "0000000000000000474c106b000000000000000000000000474c106b00000000"
    "0000000000000000474c106b0000000000000000000000000000000000000000"
    "00000000000000000000000000000000"
)
UTSNAME = bytes.fromhex("4c696e7578" + "00" * 60 + "7472616365722d6775657374" + "00" * 53) + bytes(
    390 - 130
)
RLIMIT_STACK = bytes.fromhex("0000800000000000ffffffffffffffff")
MUSL_WRITEV_IOV = bytes.fromhex("e8514000000000000d0000000000000067edffffff7f00000100000000000000")


def nr(name: str) -> int:
    number = syscall_number(name)
    assert number is not None
    return number


def line(name: str, args: list[int], ret: int | None, memory: dict[int, bytes | None]) -> str:
    return format_syscall(nr(name), args, None if ret is None else ret & U64, memory)


def test_layouts_match_the_x86_64_abi() -> None:
    sizes = {name: layout.size for name, layout in LAYOUTS.items()}
    assert sizes["stat"] == 144 and sizes["utsname"] == 390 and sizes["timespec"] == 16
    assert sizes["sigaction"] == 32 and sizes["sysinfo"] == 112 and sizes["clone_args"] == 88
    assert LAYOUTS["stat"].field("st_mode").offset == 24
    assert LAYOUTS["stat"].field("st_rdev").offset == 40


def test_newfstatat_and_fstat_of_the_console() -> None:
    args = [1, 0x48E91D, 0x7FFFFFFFEAB0, 0x1000]
    assert (
        line("newfstatat", args, 0, {1: b"", 2: STAT_CONSOLE})
        == 'newfstatat(1, "", {st_mode=S_IFCHR|0620, st_rdev=makedev(0x88, 0), ...}, '
        "AT_EMPTY_PATH) = 0"
    )
    assert (
        line("fstat", [1, 0x7FFFFFFFEB60], 0, {1: STAT_CONSOLE})
        == "fstat(1, {st_mode=S_IFCHR|0620, st_rdev=makedev(0x88, 0), ...}) = 0"
    )
    # A failed call leaves the buffer unwritten: strace prints the address.
    assert line("fstat", [99, 0x7FFFFFFFEB60], -9, {}) == (
        "fstat(99, 0x7fffffffeb60) = -1 EBADF (Bad file descriptor)"
    )


def test_stat_of_a_regular_file_shows_its_size() -> None:
    regular = bytearray(STAT_CONSOLE)
    regular[24:28] = (0o100755).to_bytes(4, "little")
    regular[48:56] = (12345).to_bytes(8, "little")
    assert line("stat", [0x1000, 0x2000], 0, {0: b"/init", 1: bytes(regular)}) == (
        'stat("/init", {st_mode=S_IFREG|0755, st_size=12345, ...}) = 0'
    )
    assert format_st_mode(0o104755) == "S_IFREG|S_ISUID|0755"
    assert format_makedev(0x10300) == "makedev(0x103, 0)"


def test_uname() -> None:
    assert line("uname", [0x7FFFFFFFE900], 0, {0: UTSNAME}) == (
        'uname({sysname="Linux", nodename="tracer-guest", ...}) = 0'
    )
    assert line("uname", [0], -14, {}) == "uname(NULL) = -1 EFAULT (Bad address)"


def test_prlimit64_and_getrlimit() -> None:
    args = [0, 3, 0, 0x7FFFFFFFECB0]
    assert line("prlimit64", args, 0, {3: RLIMIT_STACK}) == (
        "prlimit64(0, RLIMIT_STACK, NULL, {rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}) = 0"
    )
    assert line("getrlimit", [3, 0x1000], 0, {1: RLIMIT_STACK}) == (
        "getrlimit(RLIMIT_STACK, {rlim_cur=8192*1024, rlim_max=RLIM_INFINITY}) = 0"
    )
    odd = struct.pack("<QQ", 1000, 1025)
    assert line("setrlimit", [7, 0x1000], 0, {1: odd}) == (
        "setrlimit(RLIMIT_NOFILE, {rlim_cur=1000, rlim_max=1025}) = 0"
    )


def test_time_structures() -> None:
    sleep = bytes.fromhex("0000000000000000e803000000000000")
    assert line("clock_nanosleep", [1, 0, 0x7FFFFFFFEB20, 0], 0, {2: sleep}) == (
        "clock_nanosleep(CLOCK_MONOTONIC, 0, {tv_sec=0, tv_nsec=1000}, NULL) = 0"
    )
    two_ms = bytes.fromhex("000000000000000080841e0000000000")
    assert line("nanosleep", [0x7FFFFFFFEB20, 0], 0, {0: two_ms}) == (
        "nanosleep({tv_sec=0, tv_nsec=2000000}, NULL) = 0"
    )
    now = bytes.fromhex("0400000000000000b9295f1000000000")
    assert line("clock_gettime", [1, 0x7FFFFFFFEAF0], 0, {1: now}) == (
        "clock_gettime(CLOCK_MONOTONIC, {tv_sec=4, tv_nsec=274672057}) = 0"
    )
    tv = bytes.fromhex("4b4c106b00000000b088070000000000")
    assert line("gettimeofday", [0x7FFFFFFFEAF0, 0], 0, {0: tv}) == (
        "gettimeofday({tv_sec=1796230219, tv_usec=493744}, NULL) = 0"
    )


def test_writev_shows_each_buffer() -> None:
    memory = {1: MUSL_WRITEV_IOV, IOV_KEY: b"Hello, world!", IOV_KEY + 1: b"\n"}
    assert line("writev", [1, 0x7FFFFFFFECD0, 2], 14, memory) == (
        'writev(1, [{iov_base="Hello, world!", iov_len=13}, {iov_base="\\n", iov_len=1}], 2) = 14'
    )
    # A buffer that could not be read shows as its address.
    assert line("writev", [1, 0x7FFFFFFFECD0, 2], 14, {1: MUSL_WRITEV_IOV, IOV_KEY: None}) == (
        "writev(1, [{iov_base=0x4051e8, iov_len=13}, {iov_base=0x7fffffffed67, iov_len=1}], 2) = 14"
    )


def test_readv_shows_what_the_kernel_filled() -> None:
    iov = struct.pack("<QQQQ", 0x5000, 4, 0x6000, 10)
    memory = {1: iov, IOV_KEY: b"abcd", IOV_KEY + 1: b"ef"}
    assert line("readv", [0, 0x1000, 2], 6, memory) == (
        'readv(0, [{iov_base="abcd", iov_len=4}, {iov_base="ef", iov_len=10}], 2) = 6'
    )
    assert follow_reads(nr("readv"), [0, 0x1000, 2], 6, {1: iov}) == [
        MemRead(IOV_KEY, 0x5000, 4, "buf"),
        MemRead(IOV_KEY + 1, 0x6000, 2, "buf"),
    ]
    assert follow_reads(nr("readv"), [0, 0x1000, 2], None, {1: iov}) == []  # not at entry
    assert line("readv", [0, 0x1000, 2], -9, {}) == (
        "readv(0, 0x1000, 2) = -1 EBADF (Bad file descriptor)"
    )


def test_signal_structures() -> None:
    ignore = bytes.fromhex("01" + "00" * 31)
    default = bytes(32)
    args = [10, 0x7FFFFFFFE8C0, 0x7FFFFFFFE8E0, 8]
    assert line("rt_sigaction", args, 0, {1: ignore, 2: default}) == (
        "rt_sigaction(SIGUSR1, {sa_handler=SIG_IGN, sa_mask=[], sa_flags=0}, "
        "{sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0"
    )
    glibc_handler = struct.pack("<QQQQ", 0x401234, 0x14000000, 0x401000, 1 << 16)
    assert line("rt_sigaction", [17, 0x1000, 0, 8], 0, {1: glibc_handler}) == (
        "rt_sigaction(SIGCHLD, {sa_handler=0x401234, sa_mask=[CHLD], "
        "sa_flags=SA_RESTORER|SA_RESTART, sa_restorer=0x401000}, NULL, 8) = 0"
    )
    usr1 = bytes.fromhex("0002000000000000")
    args = [0, 0x7FFFFFFFE870, 0x7FFFFFFFE878, 8]
    assert line("rt_sigprocmask", args, 0, {1: usr1, 2: bytes(8)}) == (
        "rt_sigprocmask(SIG_BLOCK, [USR1], [], 8) = 0"
    )
    all_but = U64 & ~((1 << 8) | (1 << 18))  # every signal but KILL and STOP
    assert format_sigset(all_but) == "~[KILL STOP]"
    assert format_sigset(1 << 31 | 1 << 32) == "[RTMIN RT_1]"
    altstack = bytes.fromhex("000000000000000002000000000000000000000000000000")
    assert line("sigaltstack", [0, 0x7FFFFFFFE8A0], 0, {1: altstack}) == (
        "sigaltstack(NULL, {ss_sp=NULL, ss_flags=SS_DISABLE, ss_size=0}) = 0"
    )


def test_poll_sysinfo_and_clone3() -> None:
    fds = struct.pack("<ihhihh", 0, 0x1, 0, 1, 0x4, 0)
    assert line("poll", [0x1000, 2, 100], 1, {0: fds}) == (
        "poll([{fd=0, events=POLLIN}, {fd=1, events=POLLOUT}], 2, 100) = 1"
    )
    info = struct.pack("<q3Q6QH6xQQI4x", 42, 0, 0, 0, 256 << 20, 200 << 20, 0, 0, 0, 0, 3, 0, 0, 1)
    assert line("sysinfo", [0x1000], 0, {0: info}) == (
        "sysinfo({uptime=42, loads=[0, 0, 0], totalram=268435456, freeram=209715200, "
        "sharedram=0, bufferram=0, totalswap=0, freeswap=0, procs=3, totalhigh=0, freehigh=0, "
        "mem_unit=1}) = 0"
    )
    flags = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x80000 | 0x200000 | 0x100000
    args3 = struct.pack("<11Q", flags, 0, 0x7F0000001000, 0x7F0000001000, 0, 0x7F00000, 0x8000,
                        0x7F0000002000, 0, 0, 0)  # fmt: skip
    assert line("clone3", [0x1000, 88], 2, {0: args3}) == (
        "clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SETTLS|"
        "CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, child_tid=0x7f0000001000, "
        "parent_tid=0x7f0000001000, exit_signal=0, stack=0x7f00000, stack_size=0x8000, "
        "tls=0x7f0000002000}, 88) = 2"
    )
    # a size below the struct's (pthread.c checks the EINVAL): what the 8 bytes hold, no more
    short = line("clone3", [0x1000, 8], -22 & (2**64 - 1), {0: args3[:8]})
    assert short.startswith("clone3({flags=CLONE_VM|") and "}, 8) = -1 EINVAL" in short


def test_a_pointer_that_cannot_be_read_shows_as_its_address() -> None:
    assert line("nanosleep", [0xFFFFFFFF80100000, 0], -14, {0: None}) == (
        "nanosleep(0xffffffff80100000, NULL) = -1 EFAULT (Bad address)"
    )
    # Too few bytes for the structure (a read cut short): the address, not half a structure.
    assert line("uname", [0x1000], 0, {0: UTSNAME[:100]}) == "uname(0x1000) = 0"


def test_the_read_plan_fetches_in_parameters_at_entry_and_out_parameters_at_exit() -> None:
    args = [0, 3, 0x2000, 0x3000]
    assert entry_reads(nr("prlimit64"), args) == [MemRead(2, 0x2000, 16, "buf")]
    assert exit_reads(nr("prlimit64"), args, 0) == [MemRead(3, 0x3000, 16, "buf")]
    assert exit_reads(nr("prlimit64"), args, -22 & U64) == []  # failed: nothing written
    assert exit_reads(nr("newfstatat"), [1, 0x48E91D, 0x4000, 0x1000], 0) == [
        MemRead(2, 0x4000, 144, "buf")
    ]
    assert exit_reads(nr("uname"), [0x5000], 0) == [MemRead(0, 0x5000, 390, "buf")]
    assert entry_reads(nr("writev"), [1, 0x6000, 2]) == [MemRead(1, 0x6000, 32, "buf")]
    assert entry_reads(nr("writev"), [1, 0x6000, 1024]) == [MemRead(1, 0x6000, 512, "buf")]
    # More than UIO_MAXIOV: the kernel refuses it unread; no stack bytes past the array.
    assert entry_reads(nr("writev"), [1, 0x6000, 1025]) == []
    assert line("writev", [1, 0x6000, U64], -22, {1: bytes(512)}) == (
        "writev(1, 0x6000, 18446744073709551615) = -1 EINVAL (Invalid argument)"
    )
    assert exit_reads(nr("readv"), [0, 0x6000, 2], 6) == [MemRead(1, 0x6000, 32, "buf")]
    assert entry_reads(nr("rt_sigprocmask"), [0, 0x7000, 0x7008, 8]) == [
        MemRead(1, 0x7000, 8, "buf")
    ]
    assert entry_reads(nr("clone3"), [0x8000, 88]) == [MemRead(0, 0x8000, 88, "buf")]
    assert entry_reads(nr("nanosleep"), [0, 0]) == []  # NULL: nothing to read


@pytest.mark.parametrize("name", ["writev", "pwritev", "vmsplice"])
def test_follow_reads_of_input_iovecs_at_entry(name: str) -> None:
    got = follow_reads(nr(name), [1, 0x7FFFFFFFECD0, 2], None, {1: MUSL_WRITEV_IOV})
    assert got == [
        MemRead(IOV_KEY, 0x4051E8, 13, "buf"),
        MemRead(IOV_KEY + 1, 0x7FFFFFFFED67, 1, "buf"),
    ]


def test_report_tui_and_json_print_the_same_structure() -> None:
    import dataclasses
    import json

    from tracer.events import SegBases, SyscallEntry, SyscallExit
    from tracer.export.jsonl import json_lines
    from tracer.export.labels import syscall_line
    from tracer.tui.view_models.rows import syscall_text

    bases = SegBases(0, 0, 0)
    entry = SyscallEntry(1, 10, 0, 1, 0, nr("uname"), (0x1000, 0, 0, 0, 0, 0), 0, 0, 0, 0, (),
                         bases, 0)  # fmt: skip
    exit_ = SyscallExit(2, 20, 0, 1, 0, nr("uname"), 0, 1, 0, 0, 0, (), bases, 0,
                        memory=((0, UTSNAME),))  # fmt: skip
    expected = 'uname({sysname="Linux", nodename="tracer-guest", ...}) = 0'
    assert syscall_line(entry, exit_) == expected
    assert syscall_text(entry, exit_) == expected
    assert json.loads(list(json_lines([entry, exit_]))[1])["text"] == expected
    unread = dataclasses.replace(exit_, memory=((0, None),))
    assert syscall_line(entry, unread) == "uname(0x1000) = 0"
