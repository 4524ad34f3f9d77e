"""The syscall table: names against the system's unistd_64.h, specs well formed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tracer.decode.syscall_table import (
    SYSCALLS,
    ArgKind,
    RetKind,
    parse_args,
    syscall_name,
    syscall_number,
    syscall_spec,
)

UNISTD_64 = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")

# Added to syscall_64.tbl after the kernel headers this machine ships (6.1-era: up to 450).
NEWER_THAN_HEADERS = {
    335: "uretprobe",
    336: "uprobe",
    451: "cachestat",
    452: "fchmodat2",
    453: "map_shadow_stack",
    454: "futex_wake",
    455: "futex_wait",
    456: "futex_requeue",
    457: "statmount",
    458: "listmount",
    459: "lsm_get_self_attr",
    460: "lsm_set_self_attr",
    461: "lsm_list_modules",
    462: "mseal",
    463: "setxattrat",
    464: "getxattrat",
    465: "listxattrat",
    466: "removexattrat",
    467: "open_tree_attr",
    468: "file_getattr",
    469: "file_setattr",
}


def _header_table() -> dict[int, str]:
    if not UNISTD_64.exists():
        pytest.skip(f"{UNISTD_64} not installed (linux-libc-dev)")
    text = UNISTD_64.read_text()
    return {int(nr): name for name, nr in re.findall(r"#define __NR_(\w+) (\d+)", text)}


def test_table_matches_unistd_64_h_exactly() -> None:
    header = _header_table()
    ours = {nr: spec.name for nr, spec in SYSCALLS.items()}
    assert {nr: ours.get(nr) for nr in header} == header
    extras = {nr: name for nr, name in ours.items() if nr not in header}
    assert extras == {nr: name for nr, name in NEWER_THAN_HEADERS.items() if nr not in header}


def test_numbering_has_the_x86_64_shape() -> None:
    numbers = set(SYSCALLS)
    assert set(range(0, 337)) <= numbers
    assert set(range(424, 470)) <= numbers
    assert not numbers & set(range(337, 424))
    assert max(numbers) == 469


def test_names_are_unique_and_round_trip() -> None:
    names = [spec.name for spec in SYSCALLS.values()]
    assert len(names) == len(set(names))
    for nr, spec in SYSCALLS.items():
        assert spec.nr == nr
        assert syscall_number(spec.name) == nr
        assert syscall_name(nr) == spec.name


@pytest.mark.parametrize(
    ("nr", "expected"),
    [
        (0, "read"),
        (1, "write"),
        (9, "mmap"),
        (12, "brk"),
        (15, "rt_sigreturn"),
        (60, "exit"),
        (158, "arch_prctl"),
        (202, "futex"),
        (218, "set_tid_address"),
        (231, "exit_group"),
        (257, "openat"),
        (262, "newfstatat"),
        (273, "set_robust_list"),
        (302, "prlimit64"),
        (318, "getrandom"),
        (332, "statx"),
        (334, "rseq"),
        (435, "clone3"),
    ],
)
def test_common_numbers(nr: int, expected: str) -> None:
    assert syscall_name(nr) == expected


def test_unknown_numbers_use_straces_hex_name() -> None:
    assert syscall_name(999) == "syscall_0x3e7"
    assert syscall_name(400) == "syscall_0x190"
    assert syscall_spec(999) is None
    assert syscall_number("no_such_call") is None


def test_argument_counts_of_well_known_calls() -> None:
    counts = {
        "read": 3,
        "mmap": 6,
        "getpid": 0,
        "exit_group": 1,
        "futex": 6,
        "clone": 5,
        "openat": 4,
        "rt_sigaction": 4,
        "arch_prctl": 2,
        "statx": 5,
        "rseq": 4,
        "preadv2": 6,
    }
    for name, count in counts.items():
        spec = syscall_spec(syscall_number(name) or 0)
        assert spec is not None and len(spec.args) == count, name


def test_specs_are_detailed_for_the_common_calls() -> None:
    read = SYSCALLS[0]
    assert [(a.name, a.kind) for a in read.args] == [
        ("fd", ArgKind.FD),
        ("buf", ArgKind.BUF_OUT),
        ("count", ArgKind.ULONG),
    ]
    assert read.args[1].length_from == "ret"
    assert SYSCALLS[1].args[1].length_from == 2
    assert SYSCALLS[9].args[2].table == "PROT" and SYSCALLS[9].args[3].table == "MAP"
    assert SYSCALLS[158].args[0].table == "ARCH"
    assert SYSCALLS[257].args[0].kind is ArgKind.DIRFD
    assert SYSCALLS[89].args[0].kind is ArgKind.PATH
    assert SYSCALLS[9].ret is RetKind.HEX and SYSCALLS[12].ret is RetKind.HEX
    assert SYSCALLS[95].ret is RetKind.OCT


def test_only_exit_and_exit_group_never_return() -> None:
    assert {spec.name for spec in SYSCALLS.values() if spec.noreturn} == {"exit", "exit_group"}


def test_parse_args_shorthand_and_errors() -> None:
    (fd, buf, mode) = parse_args("fd buf:buf_in@2 mode:flags=PROT")
    assert (fd.name, fd.kind) == ("fd", ArgKind.FD)
    assert (buf.kind, buf.length_from) == (ArgKind.BUF_IN, 2)
    assert (mode.kind, mode.table) == (ArgKind.FLAGS, "PROT")
    with pytest.raises(ValueError, match="table"):
        parse_args("x:flags")
    with pytest.raises(ValueError, match="no table"):
        parse_args("x:enum=NOPE")
    with pytest.raises(ValueError, match="length"):
        parse_args("x:buf_out")
    with pytest.raises(ValueError):
        parse_args("x:wat")
