"""strace-style syscall lines, and the plan of guest memory the capture must read for them.

Register values arrive as unsigned 64-bit integers. C `int` arguments (descriptors, most flags)
are the low 32 bits, signed; `long` arguments all 64 bits.

Memory is keyed by argument index. For a string read (`cstr`) the capture reads up to the
planned length and stops at the first NUL, giving the bytes before it; getting the whole planned
length back means no NUL was found, and the string prints with `...`. For a buffer read (`buf`)
it gives the bytes read. None means the read failed: the argument prints as its address.

Read caps: plain strings 33 bytes and buffers 33 bytes (strace shows 32, the 33rd tells "longer");
paths 4096 bytes (PATH_MAX), since strace prints paths whole.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from tracer.decode.errno import MAX_ERRNO, format_errno
from tracer.decode.flags import FORMATTERS, format_dirfd, format_mode
from tracer.decode.quoting import MAX_STRLEN, format_buffer, format_string
from tracer.decode.strace_special import LAYOUTS, fcntl_return
from tracer.decode.struct_format import LAYOUT_OF, StructContext, format_struct, iovec_lengths
from tracer.decode.structs import IOV_KEY
from tracer.decode.syscall_table import (
    Arg,
    ArgKind,
    RetKind,
    SyscallSpec,
    syscall_name,
    syscall_spec,
)
from tracer.decode.xlat import format_hex, format_ptr, to_signed

STR_READ_CAP: Final = MAX_STRLEN + 1
PATH_READ_CAP: Final = 4096
BUF_READ_CAP: Final = MAX_STRLEN + 1

Memory = Mapping[int, bytes | None]

_ENTRY_READ_KINDS: Final = frozenset({ArgKind.STR, ArgKind.PATH, ArgKind.BUF_IN})
_EXIT_BUF_KINDS: Final = frozenset({ArgKind.BUF_OUT, ArgKind.BUF_OUT_HEX})
_UNKNOWN_ARGS: Final = tuple(Arg(f"arg{i}", ArgKind.HEX) for i in range(6))


@dataclass(frozen=True)
class MemRead:
    """Guest memory to read for argument `arg_index`: `length` bytes at most from `addr`."""

    arg_index: int
    addr: int
    length: int
    kind: Literal["cstr", "buf"]


def _arg(args: Sequence[int], index: int) -> int:
    return args[index] & (1 << 64) - 1 if index < len(args) else 0


def _args_of(spec: SyscallSpec | None) -> tuple[Arg, ...]:
    return spec.args if spec else _UNKNOWN_ARGS


def _count(arg: Arg, args: Sequence[int]) -> int | None:
    return _arg(args, arg.length_from) if isinstance(arg.length_from, int) else None


def _struct_read(index: int, arg: Arg, args: Sequence[int]) -> MemRead | None:
    addr = _arg(args, index)
    assert arg.table is not None
    length = LAYOUT_OF[arg.table].read_size(_count(arg, args))
    return MemRead(index, addr, length, "buf") if addr and length else None


def _is_struct(arg: Arg, kind: ArgKind) -> bool:
    return arg.kind is kind and arg.table is not None


def _entry_read(index: int, arg: Arg, args: Sequence[int]) -> MemRead | None:
    addr = _arg(args, index)
    if not addr:
        return None
    if arg.kind is ArgKind.STRUCT_IN:
        return _struct_read(index, arg, args)
    if arg.kind is ArgKind.STR:
        return MemRead(index, addr, STR_READ_CAP, "cstr")
    if arg.kind is ArgKind.PATH:
        return MemRead(index, addr, PATH_READ_CAP, "cstr")
    length = _arg(args, arg.length_from) if isinstance(arg.length_from, int) else 0
    return MemRead(index, addr, min(length, BUF_READ_CAP), "buf") if length else None


def entry_reads(nr: int, args: Sequence[int]) -> list[MemRead]:
    """What to read at syscall entry: strings, paths and input buffers."""
    reads = []
    for index, arg in enumerate(_args_of(syscall_spec(nr))):
        if arg.kind in _ENTRY_READ_KINDS or _is_struct(arg, ArgKind.STRUCT_IN):
            read = _entry_read(index, arg, args)
            if read is not None:
                reads.append(read)
    return reads


def _output_length(arg: Arg, args: Sequence[int], ret: int) -> int:
    """Bytes the kernel wrote to an output buffer; 0 when it failed or wrote nothing."""
    if ret < 0 or ret >= 1 << 63:
        return 0
    return _arg(args, arg.length_from) if isinstance(arg.length_from, int) else ret


def exit_reads(
    nr: int, args: Sequence[int], ret: int, entry_memory: Memory | None = None
) -> list[MemRead]:
    """What to read at syscall exit: output buffers sized by the result (at most 33 bytes).

    With `entry_memory`, entry reads that failed (None, e.g. the page was not present yet) are
    planned again, so the exit stop can fill them in.
    """
    ret = to_signed(ret, 64)
    reads = []
    for index, arg in enumerate(_args_of(syscall_spec(nr))):
        addr = _arg(args, index)
        if arg.kind in _ENTRY_READ_KINDS or _is_struct(arg, ArgKind.STRUCT_IN):
            if entry_memory is not None and entry_memory.get(index) is None:
                read = _entry_read(index, arg, args)
                reads.extend([read] if read is not None else [])
        elif _is_struct(arg, ArgKind.STRUCT_OUT) and ret >= 0:
            read = _struct_read(index, arg, args)
            reads.extend([read] if read is not None else [])
        elif addr and arg.kind in _EXIT_BUF_KINDS:
            length = min(_output_length(arg, args, ret), BUF_READ_CAP)
            reads.extend([MemRead(index, addr, length, "buf")] if length else [])
        elif addr and arg.kind is ArgKind.PATH_OUT and ret > 0:
            reads.append(MemRead(index, addr, min(ret, PATH_READ_CAP), "cstr"))
    return reads


def follow_reads(nr: int, args: Sequence[int], ret: int | None, memory: Memory) -> list[MemRead]:
    """Reads that depend on memory already read: the buffers an iovec array points to.

    At entry (`ret` None) the buffers of arrays the kernel reads (writev), at exit those it
    filled (readv), as much as `ret` says it filled; each under the key `IOV_KEY + element`.
    """
    spec = syscall_spec(nr)
    if spec is None:
        return []
    want = ("iovec", ArgKind.STRUCT_IN) if ret is None else ("iovec_out", ArgKind.STRUCT_OUT)
    if ret is not None and to_signed(ret, 64) < 0:
        return []
    signed_ret = None if ret is None else to_signed(ret, 64)
    reads = []
    for index, arg in enumerate(spec.args):
        data = memory.get(index)
        if (arg.table, arg.kind) != want or data is None:
            continue
        layout = LAYOUT_OF["iovec"]
        elements = [
            layout.values(data[i : i + layout.size])
            for i in range(0, len(data) - layout.size + 1, layout.size)
        ]
        lengths = iovec_lengths(ret is not None, [e["iov_len"] for e in elements], signed_ret)
        for i, (element, length) in enumerate(zip(elements, lengths, strict=True)):
            if element["iov_base"] and length:
                size = min(length, BUF_READ_CAP)
                reads.append(MemRead(IOV_KEY + i, element["iov_base"], size, "buf"))
    return reads


def _format_struct(
    nr: int, arg: Arg, index: int, args: Sequence[int], ret: int | None, memory: Memory
) -> str:
    addr = _arg(args, index)
    if not addr:
        return "NULL"
    signed_ret = None if ret is None else to_signed(ret, 64)
    if arg.kind is ArgKind.STRUCT_OUT and (signed_ret is None or signed_ret < 0):
        return format_ptr(addr)
    data = memory.get(index)
    if data is None:
        return format_ptr(addr)
    assert arg.table is not None
    context = StructContext(syscall_name(nr), args, signed_ret, memory, _count(arg, args))
    return format_struct(arg.table, data, context) or format_ptr(addr)


def _format_memory(
    arg: Arg, index: int, args: Sequence[int], ret: int | None, memory: Memory
) -> str:
    addr = _arg(args, index)
    if not addr:
        return "NULL"
    kind = arg.kind
    if kind in _EXIT_BUF_KINDS or kind is ArgKind.PATH_OUT:
        if ret is None or to_signed(ret, 64) < 0:
            return format_ptr(addr)
        length = _output_length(arg, args, to_signed(ret, 64))
    else:
        length = _arg(args, arg.length_from) if isinstance(arg.length_from, int) else 0
    if kind in (ArgKind.BUF_IN, *_EXIT_BUF_KINDS) and length == 0:
        return '""'
    data = memory.get(index)
    if data is None:
        return format_ptr(addr)
    if kind is ArgKind.STR:
        return format_string(data[:MAX_STRLEN], truncated=len(data) > MAX_STRLEN)
    if kind in (ArgKind.PATH, ArgKind.PATH_OUT):
        return format_string(data, truncated=len(data) >= PATH_READ_CAP)
    return format_buffer(data, length, hex_escape=kind is ArgKind.BUF_OUT_HEX)


_SCALAR: Final[dict[ArgKind, Callable[[int], str]]] = {
    ArgKind.INT: lambda v: str(to_signed(v, 32)),
    ArgKind.FD: lambda v: str(to_signed(v, 32)),
    ArgKind.UINT: lambda v: str(v & 0xFFFFFFFF),
    ArgKind.LONG: lambda v: str(to_signed(v, 64)),
    ArgKind.ULONG: str,
    ArgKind.HEX: format_hex,
    ArgKind.PTR: format_ptr,
    ArgKind.STRUCT_IN: format_ptr,
    ArgKind.STRUCT_OUT: format_ptr,
    ArgKind.DIRFD: format_dirfd,
    ArgKind.MODE: format_mode,
}


def format_arg(
    nr: int, index: int, args: Sequence[int], ret: int | None = None, memory: Memory | None = None
) -> str:
    """Argument `index` of syscall `nr` as strace prints it."""
    arg = _args_of(syscall_spec(nr))[index]
    value = _arg(args, index)
    if arg.kind in (ArgKind.STRUCT_IN, ArgKind.STRUCT_OUT) and arg.table is not None:
        return _format_struct(nr, arg, index, args, ret, memory or {})
    scalar = _SCALAR.get(arg.kind)
    if scalar is not None:
        return scalar(value)
    if arg.table is not None:
        return FORMATTERS[arg.table](value)
    return _format_memory(arg, index, args, ret, memory or {})


def format_args(
    nr: int, args: Sequence[int], ret: int | None = None, memory: Memory | None = None
) -> list[str]:
    """Every printed argument of the call, in order (what goes between the parentheses)."""
    spec = syscall_spec(nr)

    def fmt(index: int) -> str:
        return format_arg(nr, index, args, ret, memory)

    if spec is not None and spec.name in LAYOUTS:
        return LAYOUTS[spec.name](args, fmt)
    specs = _args_of(spec)
    return [fmt(i) for i, arg in enumerate(specs) if arg.kind is not ArgKind.SKIP]


def _format_time(seconds: int) -> str:
    try:
        stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    except (OverflowError, OSError, ValueError):
        return str(seconds)
    return f"{seconds} ({stamp})"


def format_return(nr: int, ret: int, args: Sequence[int] = ()) -> str:
    """What strace prints after ` = `: `0`, `0x7f0000000000`, `-1 ENOENT (No such file or
    directory)`, `022` (umask), `0x1 (flags FD_CLOEXEC)` (fcntl F_GETFD)."""
    value = to_signed(ret, 64)
    if -MAX_ERRNO <= value < 0:
        return format_errno(-value)
    spec = syscall_spec(nr)
    kind = spec.ret if spec else RetKind.DEC
    if spec is not None and spec.name == "fcntl":
        decorated = fcntl_return(args, value)
        if decorated is not None:
            return decorated
    if kind is RetKind.HEX:
        return format_hex(ret & (1 << 64) - 1)
    if kind is RetKind.OCT:
        return f"0{value:o}" if value else "0"
    if kind is RetKind.TIME:
        return _format_time(value)
    return str(value)


def format_syscall(nr: int, args: Sequence[int], ret: int | None, memory: Memory) -> str:
    """One strace line: `write(1, "Hello, world!\\n", 14) = 14`; `= ?` when `ret` is None."""
    text = f"{syscall_name(nr)}({', '.join(format_args(nr, args, ret, memory))})"
    return f"{text} = {'?' if ret is None else format_return(nr, ret, args)}"
