"""The guest's own function-graph ring buffer (ftrace-style instrumentation), found by name.

A kernel built with `-pg -mfentry` and a return hook records function entry and exit into
per-CPU rings (`ftrace_rings`, `struct ftrace_ring`, `struct ftrace_entry`). The tracer learns
their layout from DWARF, arms tracing by writing the controls (`ftrace_enabled`,
`ftrace_graph_funcs`, `ftrace_notrace_funcs`, `ftrace_max_depth`) through gdb, and drains the
rings in bulk at syscall stops, context switches and a breakpoint on `ftrace_buffer_full`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracer.events import Event, FuncEntry, FuncExit, Gap, SegBases
from tracer.probes.kinds import AgentProbe, ProbeKind
from tracer.probes.stops import Cpu, ProbeSpec, StopContext

if TYPE_CHECKING:
    from tracer.image import ElfImage
    from tracer.probes.builder import EventBuilder
    from tracer.probes.plan import ProbePlan
    from tracer.target.gdb import ProbeHit

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
    from tracer.image import struct_layout  # noqa: PLC0415 - DWARF, tracer side only

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


def add_ring_probe(plan: ProbePlan, ring: RingLayout) -> None:
    """Ring-buffer function graph: drained at syscall stops and when the guest says it is full."""
    plan.ring = ring
    if ring.buffer_full is not None:
        plan.probes.append(AgentProbe(ring.buffer_full, ProbeKind.FTRACE_FULL))


# --- at the stop (in gdb) ----------------------------------------------------------------------


HIGH_WATER = 0.75  # of the ring: drain now, whatever the guest's own probe says
HOLD_SECONDS = 3.0  # records held no longer than this (the tracer shows them live); each
# drain costs a fixed ~5-7 ms beyond its reads (measured), so fewer, larger drains are faster
HOLD_RECORDS = 16384
READ_CHUNK = 65536  # per read_memory call; gdb splits it into the stub's largest packets
CUT = "_ring_head"  # a held drain record's key: the ring's write index at its drain point


def drain(ctx: StopContext, cpu: Cpu, *, now: bool = False) -> None:
    """Mark a drain point: the records written so far belong before what this stop emits.

    Only the ring's write index is read here (8 bytes); the records themselves are read in
    bulk at the high-water mark, when the guest says the ring is full, at the end, or when
    records have waited long enough (`now` drains at once)."""
    if ctx.ring is None or not ctx.ring_armed:
        return
    ring = ctx.ring
    fields = ring["ring_fields"]
    if not ctx.ring_entries:  # the first time: the whole header, for the high-water mark
        value = _header(cpu, ring)
        if value is None:
            return
        head, ctx.ring_read, ctx.ring_entries = value["head"], value["tail"], value["size"]
    else:
        raw = cpu.read(ring["rings"] + fields["head"][0], 8)
        if raw is None:
            return
        head = int.from_bytes(raw, "little")
    if ctx.held is None:
        ctx.held, ctx.held_since = [], time.monotonic()
    if head > max(ctx.ring_cut, ctx.ring_read):
        ctx.emit(ProbeKind.FTRACE_DRAIN, cpu.reg("rip"), cpu, **{CUT: head})
        ctx.ring_cut = head
    full = ctx.ring_entries and head - ctx.ring_read >= ctx.ring_entries * HIGH_WATER
    waited = time.monotonic() - ctx.held_since >= HOLD_SECONDS
    if now or full or waited or len(ctx.held) >= HOLD_RECORDS:
        release(ctx, cpu)


def release(ctx: StopContext, cpu: Cpu | None) -> None:
    """Read the ring's unread records in bulk, mark them read, and send every held record with
    its drain points filled in (empty when the guest's memory cannot be read: `cpu` None)."""
    held, ctx.held = ctx.held, None
    if not held or ctx.ring is None:
        return
    ctx.drains += 1
    _release(ctx, cpu, ctx.ring, held)


def _release(ctx: StopContext, cpu: Cpu | None, ring: dict[str, Any], held: list[dict]) -> None:
    started = time.perf_counter_ns()  # the drain's own cost: header, entries, tail, hex
    fields = ring["ring_fields"]
    value = None if cpu is None else _header(cpu, ring)
    data, start = b"", 0
    if cpu is not None and value is not None and value["size"]:
        ctx.ring_entries = value["size"]
        start = max(value["tail"], value["head"] - value["size"])
        # Up to the last drain point only: what came after it belongs to the next one.
        data = _read_span(ctx, cpu, ring, value, start, min(value["head"], ctx.ring_cut))
        end = start + len(data) // ring["entry_size"]
        cpu.write(ring["rings"] + fields["tail"][0], end.to_bytes(8, "little"))
        ctx.ring_read = end
    esz = ring["entry_size"]
    pos = start
    for record in held:
        head = record.pop(CUT, None)
        if head is not None:
            cut = min(max(head, pos), start + len(data) // esz)
            record["data"] = data[(pos - start) * esz : (cut - start) * esz].hex()
            record["overruns"] = value["overruns"] if value is not None else 0
            record["records"] = cut - pos
            pos = cut
    ctx.drain_ns += time.perf_counter_ns() - started
    for record in held:
        ctx.sink(record)


def _header(cpu: Cpu, ring: dict[str, Any]) -> dict[str, int] | None:
    fields = ring["ring_fields"]
    header = cpu.read(ring["rings"], max(o + n for o, n in fields.values()))
    if header is None:
        return None
    return {k: int.from_bytes(header[o : o + n], "little") for k, (o, n) in fields.items()}


def _read_span(
    ctx: StopContext, cpu: Cpu, ring: dict[str, Any], value: dict[str, int], start: int, end: int
) -> bytes:
    """Entries [start, end) in as few reads as the ring's wrap and READ_CHUNK allow."""
    esz, size = ring["entry_size"], value["size"]
    chunks = []
    pos = start
    while pos < end:
        index = pos & (size - 1)
        count = min(end - pos, size - index, max(READ_CHUNK // esz, 1))
        data = cpu.read(value["entries"] + index * esz, count * esz)
        if data is None:
            break
        chunks.append(data)
        ctx.drain_bytes += len(data)
        pos += count
    return b"".join(chunks)


def at_full(ctx: StopContext, probe: ProbeSpec, cpu: Cpu) -> bool:
    drain(ctx, cpu, now=True)
    return False


# --- events ------------------------------------------------------------------------------------


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
    records: list[RingRecord],
    tsc_khz: int | None,
    cpu: int,
    time_ns: int,
    next_seq: Callable[[], int],
) -> list[FuncEntry | FuncExit]:
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


@dataclass
class RingState:
    overruns: int = 0  # as the guest last counted them


def on_drain(core: EventBuilder, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
    ring = core.plan.ring
    if ring is None:
        return
    records = decode_records(ring, bytes.fromhex(hit.fields.get("data", "")))
    state = core.state(RingState)
    lost = int(hit.fields.get("overruns", 0)) - state.overruns
    if lost > 0:
        state.overruns += lost
        out.append(Gap(core.next_seq(), core.time(hit), "function-graph ring overran", lost))
    out.extend(to_events(records, core.tsc_khz, hit.cpu, core.time(hit), core.next_seq))
