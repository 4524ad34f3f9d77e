"""Structures printed the way strace prints them, from the bytes read at a syscall's stops and
the layouts of `structs`: `{tv_sec=0, tv_nsec=1000000}`, `{st_mode=S_IFCHR|0620,
st_rdev=makedev(0x88, 0), ...}`, `[{iov_base="Hello", iov_len=5}]`, `~[KILL STOP]`.

Printers get the bytes of the whole argument (an array's elements back to back) and a context
(the call's arguments, its result, every memory read); bytes too short for the structure mean
the read failed or stopped early, and the caller prints the address instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from tracer.decode.flag_tables import flags_named
from tracer.decode.flags_proc import SIG, format_clone_flags, format_signal
from tracer.decode.quoting import format_buffer, format_string
from tracer.decode.structs import IOV_KEY, LAYOUTS, MAX_ELEMENTS, Layout
from tracer.decode.xlat import format_flags, format_ptr

U64_MAX: Final = (1 << 64) - 1


@dataclass(frozen=True)
class StructContext:
    syscall: str
    args: Sequence[int]
    ret: int | None  # signed; None at entry
    memory: Mapping[int, bytes | None]
    count: int | None  # the `@N` argument's value (element count or byte size), if any


Printer = Callable[[bytes, StructContext], str]


def _record(pairs: Sequence[tuple[str, str]], more: bool = False) -> str:
    body = ", ".join(f"{name}={value}" for name, value in pairs)
    return "{" + body + (", ..." if more else "") + "}"


def _cstring(data: bytes) -> str:
    text = data.split(b"\0", 1)[0]
    return format_string(text, truncated=False)


def _timespec(data: bytes, ctx: StructContext) -> str:
    v = LAYOUTS["timespec"].values(data)
    return _record([("tv_sec", str(v["tv_sec"])), ("tv_nsec", str(v["tv_nsec"]))])


def _timeval(data: bytes, ctx: StructContext) -> str:
    v = LAYOUTS["timeval"].values(data)
    return _record([("tv_sec", str(v["tv_sec"])), ("tv_usec", str(v["tv_usec"]))])


def _timezone(data: bytes, ctx: StructContext) -> str:
    v = LAYOUTS["timezone"].values(data)
    return _record([(k, str(v[k])) for k in ("tz_minuteswest", "tz_dsttime")])


def _utsname(data: bytes, ctx: StructContext) -> str:
    layout = LAYOUTS["utsname"]
    shown = []
    for name in ("sysname", "nodename"):  # strace's default (non-verbose) view
        field = layout.field(name)
        shown.append((name, _cstring(data[field.offset : field.offset + field.size])))
    return _record(shown, more=True)


_S_IFMT: Final = 0o170000
_FILE_TYPES: Final = {
    0o140000: "S_IFSOCK",
    0o120000: "S_IFLNK",
    0o100000: "S_IFREG",
    0o060000: "S_IFBLK",
    0o040000: "S_IFDIR",
    0o020000: "S_IFCHR",
    0o010000: "S_IFIFO",
}
_SPECIAL_BITS: Final = ((0o4000, "S_ISUID"), (0o2000, "S_ISGID"), (0o1000, "S_ISVTX"))


def format_st_mode(mode: int) -> str:
    """`S_IFCHR|0620`, `S_IFREG|S_ISUID|0755`."""
    parts = []
    kind = mode & _S_IFMT
    if kind:
        parts.append(_FILE_TYPES.get(kind, f"{kind:#o}"))
    parts.extend(name for bit, name in _SPECIAL_BITS if mode & bit)
    parts.append(f"{mode & 0o777:04o}")
    return "|".join(parts)


def format_makedev(dev: int) -> str:
    """Linux's dev_t split as strace prints it: `makedev(0x88, 0x1)`, zero as `0`."""
    major = ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF & 0xFFFFFFFF)
    minor = (dev & 0xFF) | ((dev >> 12) & ~0xFF & 0xFFFFFFFF)
    return f"makedev({major:#x}, {minor:#x})".replace("0x0,", "0,").replace("0x0)", "0)")


def _stat(data: bytes, ctx: StructContext) -> str:
    v = LAYOUTS["stat"].values(data)
    mode = v["st_mode"]
    shown = [("st_mode", format_st_mode(mode))]
    if mode & _S_IFMT in (0o020000, 0o060000):
        shown.append(("st_rdev", format_makedev(v["st_rdev"])))
    else:
        shown.append(("st_size", str(v["st_size"])))
    return _record(shown, more=True)


def _rlim(value: int, syscall: str) -> str:
    if value == U64_MAX:
        return "RLIM64_INFINITY" if syscall == "prlimit64" else "RLIM_INFINITY"
    if value and value % 1024 == 0:
        return f"{value // 1024}*1024"
    return str(value)


def _rlimit(data: bytes, ctx: StructContext) -> str:
    v = LAYOUTS["rlimit"].values(data)
    return _record([(k, _rlim(v[k], ctx.syscall)) for k in ("rlim_cur", "rlim_max")])


def _elements(layout: Layout, data: bytes, ctx: StructContext) -> tuple[list[bytes], bool]:
    """The array's elements that were read, and whether more follow (`...`)."""
    count = ctx.count or 0
    shown = min(count, MAX_ELEMENTS, len(data) // layout.size)
    items = [data[i * layout.size : (i + 1) * layout.size] for i in range(shown)]
    return items, count > shown


def _array(items: list[str], more: bool) -> str:
    return "[" + ", ".join(items) + (", ..." if more else "") + "]"


def iovec_lengths(syscall_out: bool, lengths: Sequence[int], ret: int | None) -> list[int]:
    """Bytes of each buffer worth showing: all of it going in; coming out, what `ret` filled."""
    if not syscall_out:
        return list(lengths)
    left = max(ret or 0, 0)
    out = []
    for length in lengths:
        out.append(min(length, left))
        left -= out[-1]
    return out


def _iovec(data: bytes, ctx: StructContext, *, out: bool) -> str:
    layout = LAYOUTS["iovec"]
    items, more = _elements(layout, data, ctx)
    values = [layout.values(item) for item in items]
    lengths = iovec_lengths(out, [v["iov_len"] for v in values], ctx.ret)
    shown = []
    for i, (v, length) in enumerate(zip(values, lengths, strict=True)):
        buf = ctx.memory.get(IOV_KEY + i)
        if not v["iov_base"]:
            base = "NULL"
        elif length == 0:
            base = '""'
        elif buf is None:
            base = format_ptr(v["iov_base"])
        else:
            base = format_buffer(buf, length)
        shown.append(_record([("iov_base", base), ("iov_len", str(v["iov_len"]))]))
    return _array(shown, more)


def _signal_short(number: int) -> str:
    name = SIG.values.get(number)
    if name is None:
        return str(number)
    return name.removeprefix("SIG")


def format_sigset(bits: int, nbits: int = 64) -> str:
    """`[]`, `[INT CHLD]`, or the complement `~[KILL STOP]` when most signals are in the set."""
    members = [n + 1 for n in range(nbits) if bits >> n & 1]
    if len(members) > nbits // 2:
        missing = [n + 1 for n in range(nbits) if not bits >> n & 1]
        return "~[" + " ".join(_signal_short(n) for n in missing) + "]"
    return "[" + " ".join(_signal_short(n) for n in members) + "]"


def _sigset(data: bytes, ctx: StructContext) -> str:
    size = min(len(data), ctx.count or 8)
    return format_sigset(int.from_bytes(data[:size], "little"), size * 8)


SA_FLAGS: Final = flags_named("SA")
_SA_RESTORER: Final = 0x04000000
_HANDLERS: Final = {0: "SIG_DFL", 1: "SIG_IGN", U64_MAX: "SIG_ERR"}


def _sigaction(data: bytes, ctx: StructContext) -> str:
    v = LAYOUTS["sigaction"].values(data)
    handler = _HANDLERS.get(v["sa_handler"]) or format_ptr(v["sa_handler"])
    shown = [
        ("sa_handler", handler),
        ("sa_mask", format_sigset(v["sa_mask"])),
        ("sa_flags", format_flags(SA_FLAGS, v["sa_flags"])),
    ]
    if v["sa_flags"] & _SA_RESTORER:
        shown.append(("sa_restorer", format_ptr(v["sa_restorer"])))
    return _record(shown)


POLL: Final = flags_named("POLL")


def _pollfd(data: bytes, ctx: StructContext) -> str:
    layout = LAYOUTS["pollfd"]
    items, more = _elements(layout, data, ctx)
    shown = []
    for item in items:
        v = layout.values(item)
        shown.append(_record([("fd", str(v["fd"])), ("events", format_flags(POLL, v["events"]))]))
    return _array(shown, more)


def _sysinfo(data: bytes, ctx: StructContext) -> str:
    v = LAYOUTS["sysinfo"].values(data)
    loads = f"[{v['loads0']}, {v['loads1']}, {v['loads2']}]"
    names = ("totalram", "freeram", "sharedram", "bufferram", "totalswap", "freeswap", "procs")
    shown = [("uptime", str(v["uptime"])), ("loads", loads)]
    shown += [(name, str(v[name])) for name in names]
    shown += [(name, str(v[name])) for name in ("totalhigh", "freehigh", "mem_unit")]
    return _record(shown)


def _clone_args(data: bytes, ctx: StructContext) -> str:
    v = LAYOUTS["clone_args"].values(data)
    shown = [("flags", format_clone_flags(v["flags"]))]
    for name in ("pidfd", "child_tid", "parent_tid"):
        if v.get(name):
            shown.append((name, format_ptr(v[name])))
    if "exit_signal" in v:  # a size too small to hold it (an error the kernel returns)
        shown.append(("exit_signal", format_signal(v["exit_signal"]) if v["exit_signal"] else "0"))
    for name in ("stack", "stack_size", "tls", "set_tid"):
        if v.get(name):
            shown.append((name, format_ptr(v[name])))
    for name in ("set_tid_size", "cgroup"):
        if v.get(name):
            shown.append((name, str(v[name])))
    return _record(shown)


SS_FLAGS: Final = flags_named("SS")


def _stack_t(data: bytes, ctx: StructContext) -> str:
    v = LAYOUTS["stack_t"].values(data)
    return _record(
        [
            ("ss_sp", format_ptr(v["ss_sp"])),
            ("ss_flags", format_flags(SS_FLAGS, v["ss_flags"])),
            ("ss_size", str(v["ss_size"])),
        ]
    )


PRINTERS: Final[dict[str, Printer]] = {
    "timespec": _timespec,
    "timeval": _timeval,
    "timezone": _timezone,
    "utsname": _utsname,
    "stat": _stat,
    "rlimit": _rlimit,
    "iovec": lambda data, ctx: _iovec(data, ctx, out=False),
    "iovec_out": lambda data, ctx: _iovec(data, ctx, out=True),
    "sigaction": _sigaction,
    "sigset": _sigset,
    "pollfd": _pollfd,
    "sysinfo": _sysinfo,
    "clone_args": _clone_args,
    "stack_t": _stack_t,
}
"""Structure name (as the syscall table names it) -> its printer."""

LAYOUT_OF: Final = {name: LAYOUTS["iovec" if name == "iovec_out" else name] for name in PRINTERS}


def needed_bytes(name: str, count: int | None) -> int:
    """The bytes a printer needs to print anything (fewer: print the address)."""
    return LAYOUT_OF[name].read_size(count)


def format_struct(name: str, data: bytes, ctx: StructContext) -> str | None:
    """The structure as strace prints it; None when the bytes are too few to print it."""
    layout = LAYOUT_OF[name]
    need = needed_bytes(name, ctx.count)
    if len(data) < need or (layout.length != "elements" and need == 0):
        return None
    if layout.length == "elements" and (ctx.count or 0) > layout.max_count:
        return None
    if layout.length == "elements" and not ctx.count:
        return "[]"
    return PRINTERS[name](data, ctx)


__all__ = [
    "LAYOUT_OF",
    "PRINTERS",
    "StructContext",
    "format_makedev",
    "format_sigset",
    "format_st_mode",
    "format_struct",
    "iovec_lengths",
    "needed_bytes",
]
