"""Perfetto protobuf trace: parsed back with the perfetto package's own protos."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from typing import Any

import pytest
from callgraph_demo import ScriptedTrace, hello_glibc

from tracer.analysis.callgraph import NodeKind, build_call_tree
from tracer.export.perfetto import write_perfetto

pb = pytest.importorskip(
    "perfetto.protos.perfetto.trace.perfetto_trace_pb2",
    reason="the perfetto package (pip install perfetto) is not installed",
)


def _export(trace: ScriptedTrace) -> Any:
    out = io.BytesIO()
    count = write_perfetto(trace.events, out, trace.symbolize)
    parsed = pb.Trace()
    parsed.ParseFromString(out.getvalue())
    assert len(parsed.packet) == count
    return parsed


def _tracks(parsed: Any) -> dict[int, Any]:
    return {
        p.track_descriptor.uuid: p.track_descriptor
        for p in parsed.packet
        if p.HasField("track_descriptor")
    }


def _slices_per_track(parsed: Any) -> dict[int, list[tuple[str, int, int, int]]]:
    """(name, depth, begin, end) per track; asserts begin/end balance and time order."""
    te = pb.TrackEvent
    stacks: dict[int, list[tuple[str, int]]] = defaultdict(list)
    last: dict[int, int] = {}
    out: dict[int, list[tuple[str, int, int, int]]] = defaultdict(list)
    for packet in parsed.packet:
        if not packet.HasField("track_event"):
            continue
        assert packet.trusted_packet_sequence_id == 1
        event = packet.track_event
        track = event.track_uuid
        if event.type in (te.TYPE_SLICE_BEGIN, te.TYPE_SLICE_END):
            assert packet.timestamp >= last.get(track, 0)
            last[track] = packet.timestamp
        if event.type == te.TYPE_SLICE_BEGIN:
            stacks[track].append((event.name, packet.timestamp))
        elif event.type == te.TYPE_SLICE_END:
            assert stacks[track], f"end without begin on track {track}"
            name, begin = stacks[track].pop()
            out[track].append((name, len(stacks[track]), begin, packet.timestamp))
    assert all(not stack for stack in stacks.values())
    return out


def test_thread_tracks_nest_and_count_every_call_syscall_and_interrupt() -> None:
    trace = hello_glibc()
    parsed = _export(trace)
    tracks = _tracks(parsed)
    slices = _slices_per_track(parsed)
    thread_track = next(uuid for uuid, t in tracks.items() if t.HasField("thread"))
    assert tracks[thread_track].thread.pid == 1
    assert tracks[thread_track].thread.thread_name == "hello-glibc"
    forest = build_call_tree(trace.events)
    expected = Counter(
        node.kind.value for node in forest.walk() if node.kind is not NodeKind.COMMENT
    )
    begins = Counter(
        p.track_event.categories[0]
        for p in parsed.packet
        if p.HasField("track_event")
        and p.track_event.track_uuid == thread_track
        and p.track_event.type == pb.TrackEvent.TYPE_SLICE_BEGIN
    )
    assert begins == expected
    depth_of = {name: depth for name, depth, _b, _e in slices[thread_track]}
    assert depth_of["write"] == 0 and depth_of["do_syscall_64"] == 1
    assert depth_of["tick_handle"] == 7  # syscall, 4 calls, the interrupt, its handler


def test_cpu_track_holds_the_run_and_process_track_the_name() -> None:
    parsed = _export(hello_glibc())
    tracks = _tracks(parsed)
    cpu = next(uuid for uuid, t in tracks.items() if t.name == "CPU 0")
    slices = _slices_per_track(parsed)[cpu]
    assert [name for name, depth, _b, _e in slices if depth == 0] == ["hello-glibc-1"]
    assert len(slices) > 10
    process = next(t for t in tracks.values() if t.HasField("process"))
    assert (process.process.pid, process.process.process_name) == (1, "hello-glibc")


def test_instants_and_counters() -> None:
    parsed = _export(hello_glibc())
    te = pb.TrackEvent
    tracks = _tracks(parsed)
    instants = [
        p.track_event
        for p in parsed.packet
        if p.HasField("track_event") and p.track_event.type == te.TYPE_INSTANT
    ]
    assert Counter(event.categories[0] for event in instants) == {"msr": 1, "tls": 2, "process": 1}
    switch = next(event for event in instants if event.name == "FS_BASE switch")
    annotations = {a.name: a.string_value for a in switch.debug_annotations}
    assert annotations["new"] == "0x4ca3c0" and annotations["cause"] == "arch_prctl"
    fs_track = next(uuid for uuid, t in tracks.items() if t.name == "FS_BASE cpu0")
    assert tracks[fs_track].HasField("counter")
    values = [
        p.track_event.double_counter_value
        for p in parsed.packet
        if p.HasField("track_event") and p.track_event.track_uuid == fs_track
    ]
    assert values == [0.0, float(0x4CA3C0)]


def test_a_trace_without_calls_still_has_syscall_slices() -> None:
    trace = ScriptedTrace()
    with trace.syscall(39, (), 1):
        pass
    parsed = _export(trace)
    names = [name for slices in _slices_per_track(parsed).values() for name, *_ in slices]
    assert sorted(names) == ["<...>-1", "getpid", "getpid"]  # its thread, and its CPU
