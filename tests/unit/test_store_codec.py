"""Event <-> row codec: every kind round-trips exactly, extreme values included."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tracer.events import (
    EVENT_TYPES,
    ContextSwitch,
    Event,
    EventKind,
    FuncEntry,
    FuncExit,
    Gap,
    Interrupt,
    MsrRead,
    MsrWrite,
    Note,
    ProcessEvent,
    SegBaseChange,
    SegBases,
    SegCause,
    SyscallEntry,
    SyscallExit,
    TlsSnapshot,
    VdsoCall,
)
from tracer.store.codec import (
    COLUMNS,
    CodecError,
    _compact_encoder,
    _dumps,
    column_int,
    decode,
    encode,
)

U64 = (1 << 64) - 1
REGS = (("r15", 0), ("rax", U64), ("orig_rax", 1), ("ss", 43))
ODD_BYTES = b'\x00\xff\x00/proc/self/exe\x00\n"\\'


def _samples() -> list[Event]:
    """Every kind, with 0, 2**64-1, NULs in bytes, None memory entries and None optionals."""
    low, high = SegBases(0, 0, 0), SegBases(U64, U64 - 1, 1 << 63)
    return [
        SyscallEntry(0, 0, 0, 0, 0, 0, (0,) * 6, 0, 0, 0, 0, (), low, 0),
        SyscallEntry(
            1,
            U64,
            U64,
            U64,
            U64,
            U64,
            (U64, 0, 1, U64, 1 << 63, (1 << 63) - 1),
            U64,
            U64,
            U64,
            U64,
            REGS,
            high,
            U64,
            ((0, ODD_BYTES), (1, None), (5, b""), (2, bytes(range(256)))),
        ),  # fmt: skip
        SyscallExit(2, 10, 1, 2, 0x1000, 60, 0, None, 0, 0, 0, (), low, 0),
        SyscallExit(3, 11, 1, 2, U64, U64, U64, 1, U64, U64, U64, REGS, high, U64, ((0, None),)),
        MsrWrite(4, 12, 0, 1, 0xC000_0080, None, 0, 0),
        MsrWrite(5, 13, 3, 1, U64, U64, U64, U64),
        MsrRead(6, 14, 0, 1, 0xC000_0082, U64, 0),
        MsrRead(7, 15, U64, U64, 0, 0, U64),
        SegBaseChange(8, 16, 0, 1, "fs", 0, U64, SegCause.ARCH_PRCTL, 0),
        SegBaseChange(9, 17, 1, 1, "kgs", U64, 0, SegCause.SWAPGS, U64, inferred=True),
        ProcessEvent(10, 18, 0, 1, 0x2000, "start", "hello-glibc"),
        ProcessEvent(11, 19, 0, 1, U64, "exit", 'n\u00e4me \x00 \ud800 "q"', status=U64),
        ProcessEvent(12, 20, 0, 1, 0, "exit", "", status=0),
        Gap(13, 21, "lost batch"),
        Gap(14, 22, "", count=U64),
        Gap(15, 23, "cut", count=0),
        Note(16, 24, "guest powered off"),
        Note(17, 25, "line\nbreak \x00 nul", level="error"),
        SegBaseChange(
            30,
            16,
            0,
            1,
            "fs",
            1,
            2,
            SegCause.CONTEXT_SWITCH,
            0,
            False,
            "app-tcb[hello:1]",
            "kernel-tcb[thread 2]",
        ),
        ContextSwitch(31, 16, 0, 1, 2, "tls-glibc", "tls-glibc", U64),
        Interrupt(32, 16, 0, 1, "entry", 14, "#PF", U64, U64, 3, U64, 0),
        Interrupt(33, 16, 0, 1, "exit", 32, "timer", None, None, 0, 0, U64),
        TlsSnapshot(34, 16, 0, 1, U64, None, "app-tcb[x:1]", (("a", 1), ("b", None), ("c", U64))),
        TlsSnapshot(35, 16, 0, 1, 0, 0, ""),
        FuncEntry(36, 16, 0, 1, U64, 0),
        FuncEntry(37, 16, 0, 1, 0, 63, guest_ns=U64, source="breakpoint"),
        FuncExit(38, 16, 0, 1, U64, 0, None, None),
        FuncExit(39, 16, 0, 1, U64, 2, 12, U64, source="breakpoint"),
        Note((1 << 63) - 1, U64, "last", level="warning"),
        VdsoCall(40, 17, 1, 3, "clock_gettime", (1, U64, 0, 0, 0, 0), U64, 0x40_1234),
    ]


SAMPLES = _samples()


def test_samples_cover_every_event_kind() -> None:
    assert {event.kind for event in SAMPLES} == set(EventKind) == set(EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: f"{e.kind.value}-{e.seq}")
def test_round_trip_is_exact(event: Event) -> None:
    row = encode(event)
    assert len(row) == len(COLUMNS)
    back = decode(row)
    assert back == event
    assert type(back) is type(event)
    for field in dataclasses.fields(event):
        assert type(getattr(back, field.name)) is type(getattr(event, field.name)), field.name


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: f"{e.kind.value}-{e.seq}")
def test_payload_is_the_compact_json_the_library_writes(event: Event) -> None:
    """The encoder made once writes what `JSONEncoder(separators=(",", ":"))` would: files
    written before it read the same, and theirs compare equal."""
    payload = encode(event)[7]
    assert payload == json.JSONEncoder(separators=(",", ":")).encode(json.loads(payload))


def test_the_payload_encoder_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        _dumps({"a": object()})
    assert _dumps({"s": "é\n", "n": [1 << 64, -1, 0.5, None, True]}) == json.dumps(
        {"s": "é\n", "n": [1 << 64, -1, 0.5, None, True]}, separators=(",", ":")
    )


def _other_arguments(*args: object) -> None:
    raise TypeError(f"make_encoder() takes other arguments, not {len(args)}")


@pytest.mark.parametrize("c_encoder", [None, _other_arguments], ids=["none", "other-arguments"])
def test_without_a_usable_c_encoder_payloads_are_the_same(
    monkeypatch: pytest.MonkeyPatch, c_encoder: object
) -> None:
    """No C encoder, or one that takes other arguments (a later Python): the library's own."""
    monkeypatch.setattr(json.encoder, "c_make_encoder", c_encoder)
    fallback = _compact_encoder()
    monkeypatch.undo()  # the library's own encoder goes on using what this Python has
    assert fallback.__name__ == "encode"
    for event in SAMPLES:
        payload = encode(event)[7]
        assert fallback(json.loads(payload)) == payload


def test_a_base_change_with_its_owners_is_what_replace_makes() -> None:
    change = SegBaseChange(7, 8, 1, 2, "kgs", U64, 1, SegCause.SWAPGS, 0x1234, True, "x", "y")
    named = change.with_owners("user", "percpu[1]")
    assert named == dataclasses.replace(change, old_owner="user", new_owner="percpu[1]")
    assert change.old_owner == "x"  # a new event, the old one unchanged


def test_decode_restores_nested_types() -> None:
    entry = decode(encode(SAMPLES[1]))
    assert isinstance(entry, SyscallEntry)
    assert entry.memory[0] == (0, ODD_BYTES)
    assert entry.memory[1] == (1, None)
    assert isinstance(entry.bases, SegBases) and entry.bases.fs_base == U64
    assert entry.regs == REGS and entry.reg("rax") == U64
    segbase = decode(encode(SAMPLES[9]))
    assert isinstance(segbase, SegBaseChange) and segbase.cause is SegCause.SWAPGS


def test_columns_hold_the_indexed_fields() -> None:
    seq, time_ns, kind, cpu, pid, nr, summary, payload = encode(SAMPLES[2])
    assert (seq, time_ns, kind, cpu, pid, nr, summary) == (2, 10, "syscall_exit", 1, 2, 60, None)
    assert "time_ns" not in json.loads(payload)
    msr = encode(SAMPLES[4])
    assert (msr[2], msr[5]) == ("msr_write", 0xC000_0080)
    assert "msr" not in json.loads(msr[7])
    note = encode(SAMPLES[16])
    assert (note[3], note[4], note[5]) == (None, None, None)


def test_values_beyond_sqlite_integers_keep_a_wrapped_column_and_the_exact_payload() -> None:
    row = encode(SAMPLES[1])
    assert row[1] == row[3] == row[4] == row[5] == -1
    payload = json.loads(row[7])
    assert payload["time_ns"] == payload["cpu"] == payload["nr"] == U64
    assert column_int(U64) == -1 and column_int(5) == 5 and column_int(1 << 64) is None


def test_defaults_are_left_out_of_the_payload() -> None:
    payload = json.loads(encode(SAMPLES[8])[7])
    assert "inferred" not in payload
    assert "memory" not in json.loads(encode(SAMPLES[0])[7])
    assert json.loads(encode(SAMPLES[16])[7]) == {"text": "guest powered off"}


def test_encode_rejects_what_is_not_an_event() -> None:
    with pytest.raises(TypeError):
        encode(SegBases(0, 0, 0))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        encode(Note(-1, 0, "negative seq"))
    with pytest.raises(ValueError):
        encode(Note(1 << 63, 0, "seq beyond SQLite"))


def test_decode_reports_rows_it_cannot_read() -> None:
    row = list(encode(SAMPLES[2]))
    with pytest.raises(CodecError, match="unknown event kind 'future_kind'"):
        decode([*row[:2], "future_kind", *row[3:]])
    for payload in ("not json", "[1, 2]", "{}", '{"cr3": "x", "ret": 0}'):
        with pytest.raises(CodecError, match="seq 2"):
            decode([*row[:7], payload])
    memory = json.loads(encode(SAMPLES[1])[7])
    memory["memory"] = [[0, "not base64!"]]
    with pytest.raises(CodecError):
        decode([*encode(SAMPLES[1])[:7], json.dumps(memory)])


def test_the_benchmark_script_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from tracer.bench import store as bench

    bench.main(["--events", "3000"])
    printed = capsys.readouterr().out
    for label in ("write + close", "open", "page(0, 100)", "page(last 100)", "stream"):
        assert label in printed
