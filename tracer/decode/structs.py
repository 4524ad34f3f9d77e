"""The structures strace decodes behind syscall pointers: one table of x86-64 layouts (sizes,
field offsets and widths) shared by the read plan (`strace.entry_reads` / `exit_reads`: how many
bytes to fetch) and the printers in `struct_format` (report, TUI and JSON alike).

A syscall argument names its structure in the syscall table: `rqtp:struct_in=timespec`,
`vec:struct_in=iovec@2` (an array whose element count is argument 2), `nset:struct_in=sigset@3`
(a structure whose byte size is argument 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

MAX_ELEMENTS: Final = 32
"""Array elements read and shown (strace's `-s 32` applies to arrays as well)."""

IOV_KEY: Final = 64
"""Memory key of the buffer of iovec element i is IOV_KEY + i (keys below 6 are arguments)."""


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    size: int
    signed: bool = False

    def value(self, data: bytes) -> int:
        return int.from_bytes(
            data[self.offset : self.offset + self.size], "little", signed=self.signed
        )


@dataclass(frozen=True)
class Layout:
    name: str
    size: int
    fields: tuple[Field, ...]
    length: Literal["fixed", "elements", "bytes"] = "fixed"
    """What the `@N` argument says: nothing (fixed size), an element count, or a byte size."""
    max_bytes: int = 0
    """For `bytes` layouts: the most worth reading (a sigset is 8 bytes on x86-64)."""
    max_count: int = 1 << 32
    """For arrays: a longer one the kernel refuses unread (UIO_MAXIOV), so nothing is read and
    the address is shown, rather than stack bytes past the caller's array."""

    def field(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(f"{self.name} has no field {name!r}")

    def values(self, data: bytes) -> dict[str, int]:
        """Every integer field of one element (char arrays are read by the printers)."""
        return {f.name: f.value(data) for f in self.fields if f.offset + f.size <= len(data)}

    def read_size(self, length: int | None) -> int:
        """Bytes to read for an argument whose `@N` value is `length` (None for fixed ones)."""
        if self.length == "elements":
            if (length or 0) > self.max_count:
                return 0
            return self.size * min(length or 0, MAX_ELEMENTS)
        if self.length == "bytes":
            return min(length or 0, self.max_bytes or self.size)
        return self.size


def _fields(*specs: tuple[str, int, int] | tuple[str, int, int, bool]) -> tuple[Field, ...]:
    return tuple(Field(*spec) for spec in specs)


_S: Final = True  # signed

LAYOUTS: Final[dict[str, Layout]] = {
    layout.name: layout
    for layout in (
        Layout("timespec", 16, _fields(("tv_sec", 0, 8, _S), ("tv_nsec", 8, 8, _S))),
        Layout("timeval", 16, _fields(("tv_sec", 0, 8, _S), ("tv_usec", 8, 8, _S))),
        Layout("timezone", 8, _fields(("tz_minuteswest", 0, 4, _S), ("tz_dsttime", 4, 4, _S))),
        Layout(
            "utsname",
            390,
            _fields(
                ("sysname", 0, 65),
                ("nodename", 65, 65),
                ("release", 130, 65),
                ("version", 195, 65),
                ("machine", 260, 65),
                ("domainname", 325, 65),
            ),
        ),
        Layout(
            "stat",
            144,
            _fields(
                ("st_dev", 0, 8),
                ("st_ino", 8, 8),
                ("st_nlink", 16, 8),
                ("st_mode", 24, 4),
                ("st_uid", 28, 4),
                ("st_gid", 32, 4),
                ("st_rdev", 40, 8),
                ("st_size", 48, 8, _S),
                ("st_blksize", 56, 8, _S),
                ("st_blocks", 64, 8, _S),
                ("st_atime", 72, 8, _S),
                ("st_atime_nsec", 80, 8),
                ("st_mtime", 88, 8, _S),
                ("st_mtime_nsec", 96, 8),
                ("st_ctime", 104, 8, _S),
                ("st_ctime_nsec", 112, 8),
            ),
        ),
        Layout("rlimit", 16, _fields(("rlim_cur", 0, 8), ("rlim_max", 8, 8))),
        Layout(
            "iovec",
            16,
            _fields(("iov_base", 0, 8), ("iov_len", 8, 8)),
            length="elements",
            max_count=1024,  # UIO_MAXIOV
        ),
        Layout(
            "sigaction",
            32,
            _fields(
                ("sa_handler", 0, 8), ("sa_flags", 8, 8), ("sa_restorer", 16, 8), ("sa_mask", 24, 8)
            ),
        ),
        Layout("sigset", 8, _fields(("bits", 0, 8)), length="bytes", max_bytes=8),
        Layout(
            "pollfd",
            8,
            _fields(("fd", 0, 4, _S), ("events", 4, 2), ("revents", 6, 2)),
            length="elements",
        ),
        Layout(
            "sysinfo",
            112,
            _fields(
                ("uptime", 0, 8, _S),
                ("loads0", 8, 8),
                ("loads1", 16, 8),
                ("loads2", 24, 8),
                ("totalram", 32, 8),
                ("freeram", 40, 8),
                ("sharedram", 48, 8),
                ("bufferram", 56, 8),
                ("totalswap", 64, 8),
                ("freeswap", 72, 8),
                ("procs", 80, 2),
                ("totalhigh", 88, 8),
                ("freehigh", 96, 8),
                ("mem_unit", 104, 4),
            ),
        ),
        Layout(
            "clone_args",
            88,
            _fields(
                ("flags", 0, 8),
                ("pidfd", 8, 8),
                ("child_tid", 16, 8),
                ("parent_tid", 24, 8),
                ("exit_signal", 32, 8),
                ("stack", 40, 8),
                ("stack_size", 48, 8),
                ("tls", 56, 8),
                ("set_tid", 64, 8),
                ("set_tid_size", 72, 8),
                ("cgroup", 80, 8),
            ),
            length="bytes",
            max_bytes=88,
        ),
        Layout("stack_t", 24, _fields(("ss_sp", 0, 8), ("ss_flags", 8, 4, _S), ("ss_size", 16, 8))),
    )
}
"""Structure name -> its x86-64 layout (Linux's uapi headers)."""


def layout(name: str) -> Layout:
    return LAYOUTS[name]


__all__ = ["IOV_KEY", "LAYOUTS", "MAX_ELEMENTS", "Field", "Layout", "layout"]
