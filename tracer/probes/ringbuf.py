"""The guest's own function-graph ring buffer (ftrace-style instrumentation), found by name.

A kernel built with `-pg -mfentry` and a return hook records function entry and exit into
per-CPU rings (`ftrace_rings`, `struct ftrace_ring`, `struct ftrace_entry`). The tracer learns
their layout from DWARF, arms tracing by writing the controls (`ftrace_enabled`,
`ftrace_graph_funcs`, `ftrace_notrace_funcs`, `ftrace_max_depth`) through gdb, and drains the
rings in bulk at syscall stops and at a breakpoint on `ftrace_buffer_full`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tracer.events import FuncEntry, FuncExit
from tracer.image import ElfImage, struct_layout

ENTRY_FIELDS = ("tsc", "func_addr", "depth", "type", "pid", "retval")
RING_FIELDS = ("head", "tail", "size", "overruns", "entries")
TYPE_ENTRY, TYPE_EXIT = 0, 1


@dataclass(frozen=True)
class RingLayout:
    rings: int  # address of ftrace_rings[0]
    ring_size: int
    ring_fields: dict[str, tuple[int, int]]  # name -> (offset, size)
    entry_size: int
    entry_fields: dict[str, tuple[int, int]]
    enabled: int
    graph_funcs: int | None
    graph_count: int | None
    notrace_funcs: int | None
    notrace_count: int | None
    max_depth: int | None
    buffer_full: int | None
    tsc_khz: int | None
    max_funcs: int

    def to_json(self) -> dict[str, object]:
        return {"rings": self.rings, "ring_fields": self.ring_fields, "entry_size": self.entry_size}


def _addr(image: ElfImage, name: str) -> int | None:
    sym = image.symbol(name)
    return int(sym.addr) if sym is not None else None


def find_ring(image: ElfImage) -> RingLayout | None:
    """The ring buffer's layout, or None when the kernel has no such instrumentation."""
    rings, enabled = _addr(image, "ftrace_rings"), _addr(image, "ftrace_enabled")
    if rings is None or enabled is None or not image.has_dwarf:
        return None
    ring, entry = struct_layout(image, "ftrace_ring"), struct_layout(image, "ftrace_entry")
    if ring is None or entry is None:
        return None
    ring_fields = {f.name: (f.offset, f.size) for f in ring.fields if f.name in RING_FIELDS}
    entry_fields = {f.name: (f.offset, f.size) for f in entry.fields if f.name in ENTRY_FIELDS}
    if len(ring_fields) < len(RING_FIELDS) or len(entry_fields) < len(ENTRY_FIELDS):
        return None
    funcs = image.symbol("ftrace_graph_funcs")
    return RingLayout(
        rings,
        ring.size,
        ring_fields,
        entry.size,
        entry_fields,
        enabled,
        _addr(image, "ftrace_graph_funcs"),
        _addr(image, "ftrace_graph_count"),
        _addr(image, "ftrace_notrace_funcs"),
        _addr(image, "ftrace_notrace_count"),
        _addr(image, "ftrace_max_depth"),
        _addr(image, "ftrace_buffer_full"),
        _addr(image, "tsc_khz"),
        (funcs.size // 8) if funcs is not None and funcs.size else 32,
    )


def control_writes(
    layout: RingLayout, graph: Sequence[int], notrace: Sequence[int], max_depth: int
) -> list[tuple[int, bytes]]:
    """The (address, bytes) writes that arm tracing, like set_graph_function & co."""
    if len(graph) > layout.max_funcs or len(notrace) > layout.max_funcs:
        raise ValueError(f"at most {layout.max_funcs} functions per filter")
    writes: list[tuple[int, bytes]] = []

    def table(addr: int | None, count: int | None, funcs: Sequence[int]) -> None:
        if addr is None or count is None:
            if funcs:
                raise ValueError("this kernel's ring buffer has no function filter")
            return
        writes.append((addr, b"".join(f.to_bytes(8, "little") for f in funcs) or b"\0" * 8))
        writes.append((count, len(funcs).to_bytes(4, "little")))

    table(layout.graph_funcs, layout.graph_count, graph)
    table(layout.notrace_funcs, layout.notrace_count, notrace)
    if layout.max_depth is not None:
        writes.append((layout.max_depth, max_depth.to_bytes(4, "little")))
    writes.append((layout.enabled, (1).to_bytes(4, "little")))
    return writes


def _field(data: bytes, base: int, spec: tuple[int, int]) -> int:
    offset, size = spec
    return int.from_bytes(data[base + offset : base + offset + size], "little")


@dataclass(frozen=True)
class RingRecord:
    tsc: int
    func: int
    depth: int
    kind: int
    pid: int
    retval: int


def decode_records(layout: RingLayout, data: bytes) -> list[RingRecord]:
    out = []
    fields = layout.entry_fields
    for base in range(0, len(data) - layout.entry_size + 1, layout.entry_size):
        out.append(
            RingRecord(
                _field(data, base, fields["tsc"]),
                _field(data, base, fields["func_addr"]),
                _field(data, base, fields["depth"]),
                _field(data, base, fields["type"]),
                _field(data, base, fields["pid"]),
                _field(data, base, fields["retval"]),
            )
        )
    return out


def to_events(
    records: list[RingRecord], tsc_khz: int | None, cpu: int, time_ns: int, next_seq: callable
) -> list[FuncEntry | FuncExit]:  # type: ignore[valid-type]
    """Events from drained records; guest_ns from the guest's own TSC and its tsc_khz."""
    events: list[FuncEntry | FuncExit] = []
    for r in records:
        guest_ns = (r.tsc * 1_000_000 // tsc_khz) if tsc_khz else None
        if r.kind == TYPE_ENTRY:
            events.append(
                FuncEntry(next_seq(), time_ns, cpu, r.pid, r.func, r.depth, guest_ns, "ringbuf")
            )
        else:
            events.append(
                FuncExit(
                    next_seq(), time_ns, cpu, r.pid, r.func, r.depth, guest_ns, r.retval, "ringbuf"
                )
            )
    return events
