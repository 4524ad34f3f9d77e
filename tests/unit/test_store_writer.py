"""TraceWriter: private files, batches, meta, and surviving SIGKILL, SIGTERM and re-entry."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from itertools import islice
from pathlib import Path

import pytest

import tracer
from tracer.bench.synthetic import synthetic_events
from tracer.events import Event, Note
from tracer.store import SCHEMA_VERSION, TraceReader, TraceWriter

REPO = Path(tracer.__file__).resolve().parent.parent


def _events(count: int) -> list[Event]:
    return list(synthetic_events(count))


def _mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def test_file_is_created_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "trace.db"
    old = os.umask(0)
    try:
        with TraceWriter(path, batch_size=1) as writer:
            writer.append(Note(0, 0, "hello"))
            assert _mode(path) == 0o600
            assert _mode(Path(f"{path}-wal")) == 0o600
    finally:
        os.umask(old)
    assert _mode(path) == 0o600


def test_refuses_to_overwrite_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "trace.db"
    path.write_text("precious")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        TraceWriter(path)
    assert path.read_text() == "precious"


def test_refuses_a_symlink_and_overwrite_replaces_the_link_not_its_target(tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("precious")
    link = tmp_path / "trace.db"
    link.symlink_to(target)
    with pytest.raises(FileExistsError):
        TraceWriter(link)
    with TraceWriter(link, overwrite=True) as writer:
        writer.append(Note(0, 0, "x"))
    assert target.read_text() == "precious"
    assert not link.is_symlink() and _mode(link) == 0o600


def test_overwrite_replaces_the_file_and_ignores_a_stale_wal(tmp_path: Path) -> None:
    path = tmp_path / "trace.db"
    with TraceWriter(path) as writer:
        for event in _events(50):
            writer.append(event)
    Path(f"{path}-wal").write_bytes(b"stale wal from some other file" * 100)
    with TraceWriter(path, overwrite=True) as writer:
        writer.append(Note(0, 0, "new"))
    with TraceReader.open(path) as reader:
        assert list(reader.events()) == [Note(0, 0, "new")]


def test_commits_in_batches_and_the_rest_on_close(tmp_path: Path) -> None:
    path = tmp_path / "trace.db"
    events = _events(250)
    with TraceWriter(path, batch_size=100, flush_interval=3600) as writer:
        for event in events:
            writer.append(event)
        assert (writer.appended, writer.committed) == (250, 200)
        with TraceReader.open(path) as reader:
            assert reader.count() == 200
            assert list(reader.events()) == events[:200]
            assert not reader.complete
        writer.flush()
        assert writer.committed == 250
    with TraceReader.open(path) as reader:
        assert list(reader.events()) == events
        assert reader.complete


def test_commits_when_the_flush_interval_has_passed(tmp_path: Path) -> None:
    path = tmp_path / "trace.db"
    with TraceWriter(path, batch_size=1000, flush_interval=0) as writer:
        writer.append(Note(0, 0, "a"))
        writer.append(Note(1, 1, "b"))
        assert writer.committed == 2
    with TraceWriter(path, overwrite=True, batch_size=1000, flush_interval=3600) as writer:
        writer.append(Note(0, 0, "a"))
        assert writer.committed == 0 and not writer.flush_if_due()
        writer.flush_interval = 0
        assert writer.flush_if_due() and writer.committed == 1


def test_meta_is_written_and_finished_on_close(tmp_path: Path) -> None:
    path = tmp_path / "trace.db"
    events = _events(40)
    with TraceWriter(path, {"kernel": "guest/build/kernel.elf"}) as writer:
        for event in events:
            writer.append(event)
        writer.set_meta("cmdline", "tls=osv")
        with TraceReader.open(path) as reader:
            live = reader.meta
        assert live["complete"] == "0" and live["cmdline"] == "tls=osv"
    with TraceReader.open(path) as reader:
        meta = reader.meta
    assert meta["format"] == "tracer-trace"
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    assert meta["kernel"] == "guest/build/kernel.elf"
    assert meta["complete"] == "1"
    assert meta["event_count"] == "40"
    assert meta["end_time_ns"] == str(events[-1].time_ns)
    counts = json.loads(meta["event_counts"])
    assert sum(counts.values()) == 40 and counts["syscall_entry"] == 10
    assert meta["started_at"] <= meta["ended_at"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert not Path(f"{path}-wal").exists()  # a finished trace is one file


def test_rejects_reserved_meta_keys_and_non_string_values(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        TraceWriter(tmp_path / "a.db", {"format": "mine"})
    with TraceWriter(tmp_path / "b.db") as writer:
        with pytest.raises(ValueError):
            writer.set_meta("complete", "1")
        with pytest.raises(TypeError):
            writer.set_meta("count", 3)  # type: ignore[arg-type]


def test_seq_must_increase(tmp_path: Path) -> None:
    with TraceWriter(tmp_path / "trace.db") as writer:
        writer.append(Note(5, 0, "a"))
        with pytest.raises(ValueError, match="seq 5 does not follow seq 5"):
            writer.append(Note(5, 0, "again"))
        with pytest.raises(ValueError):
            writer.append(Note(4, 0, "back"))
        writer.append(Note(9, 0, "gap in seqs is fine"))


def test_close_is_idempotent_and_append_after_close_fails(tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path / "trace.db")
    writer.append(Note(0, 0, "a"))
    writer.close()
    writer.close()
    assert writer.closed
    with pytest.raises(ValueError, match="closed"):
        writer.append(Note(1, 0, "late"))
    writer.flush()  # harmless


def test_summary_is_stored_when_given(tmp_path: Path) -> None:
    path = tmp_path / "trace.db"
    with TraceWriter(path) as writer:
        writer.append(Note(0, 0, "a"), summary="note: a")
        writer.append(Note(1, 0, "b"))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT summary FROM events ORDER BY seq").fetchall() == [
            ("note: a",),
            (None,),
        ]


def test_close_re_entered_in_the_middle_of_a_commit(tmp_path: Path) -> None:
    # A signal handler that closes the writer runs between two bytecodes of whatever the
    # writer was doing; SQLite's progress handler lets us land inside a commit on purpose.
    path = tmp_path / "trace.db"
    events = _events(600)
    writer = TraceWriter(path, batch_size=10_000, flush_interval=3600)
    for event in events[:500]:
        writer.append(event)
    interruptions: list[int] = []

    def interrupt() -> int:
        if not interruptions:
            interruptions.append(1)
            writer.append(events[500])
            writer.close()
        return 0

    assert writer._conn is not None
    writer._conn.set_progress_handler(interrupt, 20)
    writer.flush()
    assert interruptions and writer.closed
    with TraceReader.open(path) as reader:
        assert reader.complete
        assert list(reader.events()) == events[:501]


CHILD = textwrap.dedent(
    """
    import signal, sys
    from tracer.store import TraceWriter
    from tracer.bench.synthetic import synthetic_events

    path = sys.argv[1]
    writer = TraceWriter(path, batch_size=97, flush_interval=3600)

    def on_term(signum, frame):
        writer.close()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    with writer:
        reported = 0
        for event in synthetic_events(10**9):
            writer.append(event)
            if writer.committed != reported:
                reported = writer.committed
                print(reported, flush=True)
    """
)


def _start_writer(path: Path, until: int) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    committed = 0
    while committed < until:
        line = child.stdout.readline()
        assert line, f"writer exited early with {child.wait()}"
        committed = int(line)
    return child, committed


def _assert_prefix_of_synthetic(reader: TraceReader, at_least: int) -> int:
    events = list(reader.events())  # a live writer may commit more meanwhile
    assert len(events) >= at_least
    assert events == list(islice(synthetic_events(10**9), len(events)))
    return len(events)


@pytest.mark.timeout(120)
def test_sigkill_mid_stream_keeps_every_committed_batch(tmp_path: Path) -> None:
    path = tmp_path / "trace.db"
    child, committed = _start_writer(path, until=3000)
    try:
        with TraceReader.open(path) as live:  # the writer is still going
            seen = _assert_prefix_of_synthetic(live, committed)
            assert not live.complete
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with TraceReader.open(path) as reader:
        assert _assert_prefix_of_synthetic(reader, seen) % 97 == 0  # whole batches only
        assert not reader.complete
        assert reader.meta["event_count"] == str(reader.count())


@pytest.mark.timeout(120)
def test_sigterm_handler_that_closes_leaves_a_complete_file(tmp_path: Path) -> None:
    path = tmp_path / "trace.db"
    child, committed = _start_writer(path, until=2000)
    child.send_signal(signal.SIGTERM)
    assert child.wait() == 0
    with TraceReader.open(path) as reader:
        count = _assert_prefix_of_synthetic(reader, committed)
        assert reader.complete
        assert reader.meta["event_count"] == str(count)
