"""The initramfs writer: newc archives read back by our reader and by the system's cpio."""

from __future__ import annotations

import io
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tracer.linux.initramfs import (
    CpioEntry,
    InitramfsError,
    Program,
    read_cpio,
    write_cpio,
    write_initramfs,
)


def _archive(entries: list[CpioEntry]) -> bytes:
    out = io.BytesIO()
    write_cpio(entries, out)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 4097])
def test_entries_round_trip_at_every_padding(size: int) -> None:
    entries = [
        CpioEntry.directory("bin"),
        CpioEntry.file("bin/x" + "y" * size, b"z" * size, executable=True),
        CpioEntry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
        CpioEntry.file("ab", b"q" * (size % 7)),
    ]  # fmt: skip
    data = _archive(entries)
    assert len(data) % 4 == 0
    assert read_cpio(data) == entries


def test_truncated_or_foreign_archives_are_refused() -> None:
    data = _archive([CpioEntry.file("f", b"hello world")])
    with pytest.raises(InitramfsError, match="truncated"):
        read_cpio(data[:120])
    with pytest.raises(InitramfsError, match="no newc header"):
        read_cpio(b"070707" + data[6:])


def _programs(tmp_path: Path) -> tuple[Path, list[Program]]:
    init = tmp_path / "init"
    init.write_bytes(b"\x7fELF init")
    a = tmp_path / "a" / "hello"
    b = tmp_path / "b" / "hello"
    for path in (a, b):
        path.parent.mkdir()
        path.write_bytes(b"\x7fELF " + path.parent.name.encode())
    return init, [Program(a, ("one two", "--x")), Program(b)]


def test_initramfs_holds_init_programs_and_the_run_list(tmp_path: Path) -> None:
    init, programs = _programs(tmp_path)
    out = write_initramfs(tmp_path / "initrd.cpio", programs, init=init, kallsyms=True)
    entries = {e.name: e for e in read_cpio(out.read_bytes())}
    assert entries["init"].data == b"\x7fELF init" and entries["init"].mode & 0o111
    assert entries["bin/hello"].data == b"\x7fELF a"
    assert entries["bin/hello.2"].data == b"\x7fELF b"
    assert entries["tracer/run"].data == b"/bin/hello\tone two\t--x\n/bin/hello.2\n"
    assert entries["dev/console"].rdev == (5, 1) and stat.S_ISCHR(entries["dev/console"].mode)
    assert "tracer/kallsyms" in entries
    assert "tracer/kallsyms" not in {
        e.name for e in read_cpio(write_initramfs(tmp_path / "plain", programs, init=init)
                                  .read_bytes())
    }  # fmt: skip


def test_arguments_that_cannot_be_passed_are_refused(tmp_path: Path) -> None:
    init, programs = _programs(tmp_path)
    with pytest.raises(InitramfsError, match="tabs, newlines"):
        write_initramfs(tmp_path / "x", [Program(programs[0].path, ("a\tb",))], init=init)
    with pytest.raises(InitramfsError, match="cannot read"):
        write_initramfs(tmp_path / "x", [Program(tmp_path / "absent")], init=init)


@pytest.mark.skipif(shutil.which("cpio") is None, reason="cpio not installed")
def test_gnu_cpio_reads_what_we_write(tmp_path: Path) -> None:
    init, programs = _programs(tmp_path)
    out = write_initramfs(tmp_path / "initrd.cpio", programs, init=init)
    listing = subprocess.run(["cpio", "-itv"], input=out.read_bytes(), capture_output=True,
                             check=True).stdout.decode()  # fmt: skip
    names = [line.split()[-1] for line in listing.splitlines()]
    assert names == ["bin", "dev", "proc", "tmp", "tracer", "dev/console", "init", "bin/hello",
                     "bin/hello.2", "tracer/run"]  # fmt: skip
    assert any(line.startswith("crw-------") and "5," in line for line in listing.splitlines())
