"""An initramfs for a stock Linux kernel: the tracer's static /init (guest/linux-init), the
programs to trace under /bin, and /tracer/run listing them in order with their arguments.
Written as a "newc" cpio archive (what the kernel unpacks), reproducibly: owner root, time 0."""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

INIT_SOURCES = Path(__file__).resolve().parents[2] / "guest" / "linux-init"
RUN_LIST = "tracer/run"
KALLSYMS_FLAG = "tracer/kallsyms"
_MAGIC = b"070701"
_TRAILER = "TRAILER!!!"
_FIELDS = 13  # ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor
#               namesize check
_HEADER = len(_MAGIC) + 8 * _FIELDS


class InitramfsError(Exception):
    """A program that cannot be packed, or an archive that cannot be read; one line."""


@dataclass(frozen=True)
class CpioEntry:
    name: str  # relative, no leading "/": "bin/hello"
    mode: int  # file type and permission bits, as st_mode
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)  # (major, minor) of a device node

    @classmethod
    def directory(cls, name: str) -> CpioEntry:
        return cls(name, stat.S_IFDIR | 0o755)

    @classmethod
    def file(cls, name: str, data: bytes, executable: bool = False) -> CpioEntry:
        return cls(name, stat.S_IFREG | (0o755 if executable else 0o644), data)


@dataclass(frozen=True)
class Program:
    path: Path
    args: tuple[str, ...] = ()


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def _header(ino: int, entry: CpioEntry, name_size: int) -> bytes:
    nlink = 2 if stat.S_ISDIR(entry.mode) else 1
    values = (ino, entry.mode, 0, 0, nlink, 0, len(entry.data), 0, 0, *entry.rdev, name_size, 0)
    return _MAGIC + b"".join(b"%08X" % v for v in values)


def write_cpio(entries: Iterable[CpioEntry], out: BinaryIO) -> None:
    """A newc archive of `entries`, in order, then the trailer."""
    trailer = CpioEntry(_TRAILER, 0)
    for ino, entry in enumerate([*entries, trailer], 1):
        name = entry.name.encode() + b"\0"
        head = _header(0 if entry is trailer else ino, entry, len(name)) + name
        out.write(head + _pad(len(head)))
        out.write(entry.data + _pad(len(entry.data)))


def read_cpio(data: bytes) -> list[CpioEntry]:
    """The entries of a newc archive (the trailer left out)."""
    entries: list[CpioEntry] = []
    pos = 0
    while True:
        if data[pos : pos + len(_MAGIC)] != _MAGIC or pos + _HEADER > len(data):
            raise InitramfsError(f"no newc header at byte {pos}")
        fields = [int(data[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(_FIELDS)]
        mode, size, rdev, name_size = fields[1], fields[6], (fields[9], fields[10]), fields[11]
        name_end = pos + _HEADER + name_size
        name = data[pos + _HEADER : name_end - 1].decode()
        start = name_end + (-(name_end - pos) % 4)
        if name == _TRAILER:
            return entries
        if start + size > len(data):
            raise InitramfsError(f"{name}: truncated ({size} bytes announced)")
        entries.append(CpioEntry(name, mode, data[start : start + size], rdev))
        pos = start + size + (-size % 4)


def build_init(sources: Path = INIT_SOURCES) -> Path:
    """The static /init, built from guest/linux-init with make when it is missing or stale."""
    result = subprocess.run(["make", "-C", str(sources)], capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["failed"]
        raise InitramfsError(f"building {sources}/build/init: {last[0]}")
    return sources / "build" / "init"


def _names(programs: Sequence[Program]) -> list[str]:
    """bin/<file name>, made unique (hello, hello.2) when two programs share a name."""
    names: list[str] = []
    for program in programs:
        name, n = program.path.name, 1
        while f"bin/{name}" in names:
            n += 1
            name = f"{program.path.name}.{n}"
        names.append(f"bin/{name}")
    return names


def _run_line(name: str, args: Sequence[str]) -> str:
    words = [f"/{name}", *args]
    for word in words:
        if "\t" in word or "\n" in word or "\0" in word:
            raise InitramfsError(f"argument {word!r}: tabs, newlines and NULs cannot be passed")
    return "\t".join(words) + "\n"


def initramfs_entries(
    programs: Sequence[Program], init: Path, *, kallsyms: bool = False
) -> list[CpioEntry]:
    names = _names(programs)
    entries = [CpioEntry.directory(d) for d in ("bin", "dev", "proc", "tmp", "tracer")]
    entries.append(CpioEntry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)))
    entries.append(CpioEntry.file("init", _read(init), executable=True))
    for program, name in zip(programs, names, strict=True):
        entries.append(CpioEntry.file(name, _read(program.path), executable=True))
    run = "".join(_run_line(n, p.args) for p, n in zip(programs, names, strict=True))
    entries.append(CpioEntry.file(RUN_LIST, run.encode()))
    if kallsyms:
        entries.append(CpioEntry.file(KALLSYMS_FLAG, b""))
    return entries


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InitramfsError(f"{path}: cannot read: {exc.strerror or exc}") from None


def write_initramfs(
    out: Path, programs: Sequence[Program], *, init: Path | None = None, kallsyms: bool = False
) -> Path:
    """Pack /init, the programs and the run list into `out` (built /init unless given)."""
    entries = initramfs_entries(programs, init or build_init(), kallsyms=kallsyms)
    with open(out, "wb") as f:
        write_cpio(entries, f)
    return out
