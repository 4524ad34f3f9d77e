"""Perfetto's protobuf trace, written with the `perfetto` package's own protos: a process and a
thread track per task with nested slices, a track per CPU with each task's runs and the calls
inside them, instants for MSR writes and TLS switches, and counter tracks for the segment bases.

Counter values are doubles (a kernel address loses its low bits there); the exact values are in
the instants' annotations.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, Any

from tracer.analysis.callgraph import build_call_tree
from tracer.events import Event, Symbolizer
from tracer.export.timeline import Args, Slice, Timeline, build_timeline

SEQUENCE_ID = 1


def load_protos() -> Any:
    """The generated module, or ImportError naming the package to install."""
    try:
        from perfetto.protos.perfetto.trace import perfetto_trace_pb2
    except ImportError as exc:  # the package, or protobuf under it, is missing
        raise ImportError(
            f"the perfetto format needs the perfetto package ({exc}); pip install perfetto"
        ) from exc
    return perfetto_trace_pb2


class _Packets:
    def __init__(self, pb: Any) -> None:
        self.pb = pb
        self.next_uuid = 1
        self.first = True

    def uuid(self) -> int:
        self.next_uuid += 1
        return self.next_uuid - 1

    def packet(self, timestamp: int | None = None) -> Any:
        packet = self.pb.TracePacket()
        packet.trusted_packet_sequence_id = SEQUENCE_ID
        if self.first:
            packet.sequence_flags = self.pb.TracePacket.SEQ_INCREMENTAL_STATE_CLEARED
            self.first = False
        if timestamp is not None:
            packet.timestamp = timestamp
        return packet

    def event(
        self,
        timestamp: int,
        track: int,
        kind: int,
        name: str | None = None,
        category: str | None = None,
        args: Args = (),
    ) -> Any:
        packet = self.packet(timestamp)
        event = packet.track_event
        event.type = kind
        event.track_uuid = track
        if name is not None:
            event.name = name
        if category is not None:
            event.categories.append(category)
        for key, value in args:
            _annotate(event.debug_annotations.add(), key, value)
        return packet


def _annotate(annotation: Any, key: str, value: object) -> None:
    annotation.name = key
    if isinstance(value, bool):
        annotation.bool_value = value
    elif isinstance(value, int):
        if value < 0:
            annotation.int_value = value
        else:
            annotation.uint_value = value
    else:
        annotation.string_value = "null" if value is None else str(value)


def perfetto_packets(timeline: Timeline, pb: Any | None = None) -> Iterator[Any]:
    """TracePackets: track descriptors first, then each track's events in nesting order."""
    pb = pb or load_protos()
    out = _Packets(pb)
    te = pb.TrackEvent
    process_tracks: dict[int, int] = {}
    for pid, name in sorted(timeline.processes.items()):
        packet = out.packet()
        uuid = process_tracks[pid] = out.uuid()
        packet.track_descriptor.uuid = uuid
        packet.track_descriptor.process.pid = pid
        packet.track_descriptor.process.process_name = name
        yield packet
    thread_tracks: dict[int, int] = {}
    for thread in timeline.threads:
        packet = out.packet()
        uuid = thread_tracks[thread.tid] = out.uuid()
        packet.track_descriptor.uuid = uuid
        packet.track_descriptor.parent_uuid = process_tracks[thread.pid]
        packet.track_descriptor.thread.pid = thread.pid
        packet.track_descriptor.thread.tid = thread.tid
        packet.track_descriptor.thread.thread_name = thread.name
        yield packet
    cpu_tracks: dict[int, int] = {}
    for cpu in sorted(timeline.cpu_slices):
        packet = out.packet()
        uuid = cpu_tracks[cpu] = out.uuid()
        packet.track_descriptor.uuid = uuid
        packet.track_descriptor.name = f"CPU {cpu}"
        yield packet
    counter_tracks: dict[tuple[str, int], int] = {}
    for name, cpu in sorted(timeline.counters):
        packet = out.packet()
        uuid = counter_tracks[(name, cpu)] = out.uuid()
        packet.track_descriptor.uuid = uuid
        packet.track_descriptor.name = f"{name} cpu{cpu}"
        packet.track_descriptor.counter.unit_name = "address"
        yield packet

    for tid, slices in timeline.thread_slices.items():
        for piece in slices:
            yield from _slice_packets(out, te, piece, thread_tracks[tid])
    for tid, instants in timeline.thread_instants.items():
        for instant in instants:
            yield out.event(
                instant.time_ns,
                thread_tracks[tid],
                te.TYPE_INSTANT,
                instant.name,
                instant.category,
                instant.args,
            )
    for cpu, runs in sorted(timeline.cpu_slices.items()):
        for run in runs:
            yield from _slice_packets(out, te, run, cpu_tracks[cpu])
    for key, series in sorted(timeline.counters.items()):
        last = None
        for time_ns, value in series:
            if value == last:
                continue
            last = value
            packet = out.event(time_ns, counter_tracks[key], te.TYPE_COUNTER)
            packet.track_event.double_counter_value = float(value)
            yield packet


def _slice_packets(out: _Packets, te: Any, piece: Slice, track: int) -> Iterator[Any]:
    yield out.event(
        piece.start_ns, track, te.TYPE_SLICE_BEGIN, piece.name, piece.category, piece.args
    )
    for child in piece.children:
        yield from _slice_packets(out, te, child, track)
    yield out.event(piece.end_ns, track, te.TYPE_SLICE_END)


def write_perfetto(
    events: Iterable[Event], out: IO[bytes], symbolize: Symbolizer | None = None
) -> int:
    """Write a trace's events as a Perfetto trace; returns the number of packets written.

    Each packet is written as its own one-packet `Trace` message: concatenated, they parse as
    one `Trace` (a repeated field), without holding the whole trace in memory.
    """
    pb = load_protos()
    timeline = build_timeline(build_call_tree(events), symbolize)
    count = 0
    for packet in perfetto_packets(timeline, pb):
        trace = pb.Trace()
        trace.packet.append(packet)
        out.write(trace.SerializeToString())
        count += 1
    return count
