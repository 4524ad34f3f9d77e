"""The guest's own function-graph ring buffer (ftrace-style instrumentation), found by name.

A kernel built with `-pg -mfentry` and a return hook records function entry and exit into
per-CPU rings (`ftrace_rings`, `struct ftrace_ring`, `struct ftrace_entry`). The tracer learns
their layout from DWARF, arms tracing by writing the controls (`ftrace_enabled`,
`ftrace_graph_funcs`, `ftrace_notrace_funcs`, `ftrace_max_depth`) through gdb, and drains the
rings in bulk at syscall stops, context switches and a breakpoint on `ftrace_buffer_full`.
"""

from __future__ import annotations

import heapq
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tracer.events import Event, FuncEntry, FuncExit, Gap, SegBases
from tracer.probes.kinds import AgentProbe, ProbeKind
from tracer.probes.stops import Cpu, ProbeSpec, RingCursor, StopContext

if TYPE_CHECKING:
    from tracer.image import ElfImage
    from tracer.probes.builder import EventBuilder
    from tracer.probes.plan import ProbePlan
    from tracer.target.gdb import ProbeHit

ENTRY_FIELDS = ("tsc", "func_addr", "depth", "type", "pid", "retval")
RING_FIELDS = ("head", "tail", "size", "overruns", "entries")
RING_CPU = "cpu"  # the ring's CPU, when the struct says (else its index in the array)
TYPE_ENTRY, TYPE_EXIT = 0, 1


@dataclass(frozen=True)
class RingLayout:
    rings: int  # address of ftrace_rings[0]
    ring_size: int  # one ring's struct: the array's stride
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
    count: int = 1  # rings in the array, one per possible CPU

    def to_json(self) -> dict[str, object]:
        return {
            "rings": self.rings,
            "ring_size": self.ring_size,
            "count": self.count,
            "ring_fields": self.ring_fields,
            "entry_size": self.entry_size,
        }


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
    wanted = (*RING_FIELDS, RING_CPU)
    ring_fields = {f.name: (f.offset, f.size) for f in ring.fields if f.name in wanted}
    entry_fields = {f.name: (f.offset, f.size) for f in entry.fields if f.name in ENTRY_FIELDS}
    if not set(RING_FIELDS) <= set(ring_fields) or len(entry_fields) < len(ENTRY_FIELDS):
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
        ring_count(image, ring.size),
    )


def ring_count(image: ElfImage, ring_size: int) -> int:
    """How many rings the array holds: its symbol's size, else its DWARF type ("struct
    ftrace_ring [4]"), else one."""
    from tracer.image import variable_type_name  # noqa: PLC0415 - DWARF, tracer side only

    sym = image.symbol("ftrace_rings")
    if sym is not None and sym.size and ring_size:
        return max(1, sym.size // ring_size)
    match = re.search(r"\[(\d+)\]", variable_type_name(image, "ftrace_rings") or "")
    return int(match.group(1)) if match else 1


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


HIGH_WATER = 0.75  # of a ring: drain now, whatever the guest's own probe says
HOLD_SECONDS = 3.0  # records held no longer than this (the tracer shows them live); each
# drain costs a fixed ~5-7 ms beyond its reads (measured), so fewer, larger drains are faster
HOLD_RECORDS = 16384
READ_CHUNK = 65536  # per read_memory call; gdb splits it into the stub's largest packets
CUT = "_ring_heads"  # a held drain record's key: [ring index, its write index] at the point


def drain(ctx: StopContext, cpu: Cpu, *, now: bool = False) -> None:
    """Mark a drain point: every CPU's records written so far belong before what this stop
    emits (all vCPUs are stopped while one is).

    Only the rings' headers are read here (one read: the rings sit side by side in their
    array); the records themselves are read in bulk when a ring reaches its high-water mark,
    when the guest says one is full, at the end, or when records have waited long enough
    (`now` drains at once)."""
    if ctx.ring is None or not ctx.ring_armed:
        return
    headers = _headers(cpu, ctx.ring)
    if headers is None:
        return
    if ctx.held is None:
        ctx.held, ctx.held_since = [], time.monotonic()
    cuts, full = [], False
    for index, value in headers.items():
        cursor = ctx.cursors.get(index)
        if cursor is None:
            cursor = ctx.cursors[index] = RingCursor(read=value["tail"])
        cursor.entries, head = value["size"], value["head"]
        if head > max(cursor.cut, cursor.read):
            cuts.append([index, head])
            cursor.cut = head
        full = full or head - cursor.read >= cursor.entries * HIGH_WATER
    if cuts:
        ctx.emit(ProbeKind.FTRACE_DRAIN, cpu.reg("rip"), cpu, **{CUT: cuts})
    waited = time.monotonic() - ctx.held_since >= HOLD_SECONDS
    if now or full or waited or len(ctx.held) >= HOLD_RECORDS:
        release(ctx, cpu, headers)  # the guest is stopped: the headers just read still hold


def release(
    ctx: StopContext, cpu: Cpu | None, headers: dict[int, dict[str, int]] | None = None
) -> None:
    """Read the rings' unread records in bulk, mark them read, and send every held record with
    its drain points filled in (empty when the guest's memory cannot be read: `cpu` None)."""
    held, ctx.held = ctx.held, None
    if not held or ctx.ring is None:
        return
    ctx.drains += 1
    started = time.perf_counter_ns()  # the drain's own cost: headers, entries, tails, hex
    spans = {} if cpu is None else _read_rings(ctx, cpu, ctx.ring, headers)
    esz = ctx.ring["entry_size"]
    positions = {index: span.start for index, span in spans.items()}
    # Each ring's records as hex once, sliced per drain point (a hex() per slice cost more
    # than the reads of a large drain), and each ring's end once.
    texts = {index: (span, span.data.hex(), span.end(esz)) for index, span in spans.items()}
    chars = 2 * esz
    for record in held:
        cuts = record.pop(CUT, None)
        if cuts is None:
            continue
        parts = []
        for index, head in cuts:
            found = texts.get(index)
            if found is None:
                continue
            span, text, end = found
            pos = positions[index]
            cut = min(max(head, pos), end)
            data = text[(pos - span.start) * chars : (cut - span.start) * chars]
            parts.append({"cpu": span.cpu, "data": data, "overruns": span.overruns})
            positions[index] = cut
        record["rings"] = parts
    ctx.drain_ns += time.perf_counter_ns() - started
    for record in held:
        ctx.sink(record)


@dataclass(frozen=True)
class RingSpan:
    """What one release read from one ring: its records from `start` (a write index)."""

    cpu: int
    start: int
    data: bytes
    overruns: int

    def end(self, entry_size: int) -> int:
        return self.start + len(self.data) // entry_size


def _read_rings(
    ctx: StopContext, cpu: Cpu, ring: dict[str, Any], headers: dict[int, dict[str, int]] | None
) -> dict[int, RingSpan]:
    """Each ring's records up to its last drain point (what came after belongs to the next
    one), its tail moved past them."""
    spans: dict[int, RingSpan] = {}
    tail_at = ring["ring_fields"]["tail"][0]
    if headers is None:
        headers = _headers(cpu, ring)
    for index, value in (headers or {}).items():
        cursor = ctx.cursors.get(index)
        if cursor is None:
            continue
        cursor.entries = value["size"]
        start = max(value["tail"], value["head"] - value["size"])
        data = _read_span(ctx, cpu, ring, value, start, min(value["head"], cursor.cut))
        span = RingSpan(value.get("cpu", index), start, data, value["overruns"])
        cursor.read = span.end(ring["entry_size"])
        if cursor.read != value["tail"]:
            addr = ring["rings"] + index * ring["ring_size"] + tail_at
            cpu.write(addr, cursor.read.to_bytes(8, "little"))
        spans[index] = span
    return spans


def _headers(cpu: Cpu, ring: dict[str, Any]) -> dict[int, dict[str, int]] | None:
    """Every live ring's header (a ring not set up yet has no size or no entries), by its
    index in the array, from one read."""
    fields, stride = ring["ring_fields"], ring["ring_size"]
    count = int(ring.get("count", 1))
    raw = cpu.read(ring["rings"], stride * (count - 1) + max(o + n for o, n in fields.values()))
    if raw is None:
        return None
    headers = {}
    for index in range(count):
        base = index * stride
        value = {
            k: int.from_bytes(raw[base + o : base + o + n], "little")
            for k, (o, n) in fields.items()
        }
        size = value["size"]
        if value["entries"] and size and not size & (size - 1):
            headers[index] = value
    return headers


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
    records: Iterable[tuple[int, RingRecord]],
    tsc_khz: int | None,
    time_ns: int,
    next_seq: Callable[[], int],
) -> list[FuncEntry | FuncExit]:
    """Events from drained (cpu, record) pairs; guest_ns from the guest's own TSC and its
    tsc_khz."""
    events: list[FuncEntry | FuncExit] = []
    for cpu, r in records:
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
    overruns: dict[int, int] = field(default_factory=dict)  # cpu -> as the guest last counted


def on_drain(core: EventBuilder, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
    """Each CPU's records under that CPU (the pid in a record is the task that ran there),
    the CPUs' records between two drain points merged by the guest's TSC."""
    ring = core.plan.ring
    if ring is None:
        return
    state = core.state(RingState)
    streams = []
    for part in hit.fields.get("rings", ()):
        cpu = int(part.get("cpu", hit.cpu))
        lost = int(part.get("overruns", 0)) - state.overruns.get(cpu, 0)
        if lost > 0:
            state.overruns[cpu] = state.overruns.get(cpu, 0) + lost
            out.append(
                Gap(
                    core.next_seq(),
                    core.time(hit),
                    f"function-graph ring of CPU {cpu} overran",
                    lost,
                )
            )
        records = decode_records(ring, bytes.fromhex(part.get("data", "")))
        streams.append([(cpu, record) for record in records])
    merged = heapq.merge(*streams, key=lambda pair: pair[1].tsc)
    out.extend(to_events(merged, core.tsc_khz, core.time(hit), core.next_seq))
