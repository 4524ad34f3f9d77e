"""The Python API when the caller leaves early: breaking out of the live events, an exception
in the loop, a stop from another thread. The capture ends, the trace is valid and says why,
QEMU and gdb are gone. Also the plain paths: run() until a syscall, live events equal saved."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from capture_support import build_guest
from test_faults_support import FOREVER, FUZZER, USER, read_all, running, wait_for

from tracer.api import Session, any_of, open_trace, syscall, violation
from tracer.events import Note, SyscallEntry

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module", autouse=True)
def guest() -> None:
    build_guest()


def assert_gone(session: Session) -> None:
    for pid, name in ((session.qemu_pid, "qemu-system"), (session.gdb_pid, "gdb")):
        assert pid is not None
        wait_for(lambda pid=pid, name=name: not running(pid, name), 10, f"{name} to end")
    assert session.private_dir is not None and not session.private_dir.exists()


def test_live_events_equal_the_saved_trace(tmp_path: Path) -> None:
    with Session([USER / "hello-musl"], output=tmp_path / "t.db") as session:
        live = list(session.events())
        assert session.result is not None and session.result.reason == "guest-exit"
        with session.trace() as saved:
            assert list(saved.events()) == live
    assert_gone(session)


def test_breaking_out_of_the_loop_stops_the_capture(tmp_path: Path) -> None:
    trace = tmp_path / "t.db"
    with Session([(FUZZER, [FOREVER, "3"])], output=trace) as session:
        seen = 0
        for event in session.events():
            seen += isinstance(event, SyscallEntry)
            if seen == 200:
                break
        assert session.result is not None and session.result.reason == "stopped"
        assert session.result.error is None
    assert_gone(session)
    events = read_all(trace)
    assert sum(isinstance(e, SyscallEntry) for e in events) >= 200
    assert isinstance(events[-1], Note) and events[-1].text == "capture ended: stopped"


def test_an_exception_in_the_loop_still_cleans_up(tmp_path: Path) -> None:
    with (
        pytest.raises(ZeroDivisionError),
        Session([(FUZZER, [FOREVER, "4"])], output=tmp_path / "t.db") as session,
    ):
        for event in session.events():
            if isinstance(event, SyscallEntry):
                1 / 0  # noqa: B018
    assert_gone(session)
    assert isinstance(read_all(tmp_path / "t.db")[-1], Note)


def test_stop_from_another_thread(tmp_path: Path) -> None:
    with Session([(FUZZER, [FOREVER, "5"])], output=tmp_path / "t.db") as session:
        timer = threading.Timer(2.0, session.stop, kwargs={"reason": "stopped"})
        timer.start()
        result = session.run(timeout=120)
        timer.join()
    assert result.reason == "stopped" and result.error is None
    assert_gone(session)


def test_run_until_a_syscall_ends_there(tmp_path: Path) -> None:
    with Session([USER / "hello-glibc"], output=tmp_path / "t.db") as session:
        result = session.run(any_of(syscall("write"), syscall("exit_group")))
        assert result.reason == "until"
        names = [e.nr for e in session.trace().events() if isinstance(e, SyscallEntry)]
    assert names[-1] == 1  # write, before exit_group
    with open_trace(tmp_path / "t.db") as trace:
        assert trace.meta["end_reason"] == "until"


def test_until_a_violation_runs_to_the_end_of_a_clean_guest(tmp_path: Path) -> None:
    until = violation()
    with Session([USER / "hello-glibc"], output=tmp_path / "t.db") as session:
        result = session.run(until)
    assert result.reason == "guest-exit"
    assert until.findings == []  # type: ignore[attr-defined]


def test_a_session_captures_once(tmp_path: Path) -> None:
    with Session([USER / "hello-musl"], output=tmp_path / "t.db") as session:
        session.run()
        with pytest.raises(RuntimeError, match="captures once"):
            session.run()


def test_temporary_output_is_removed_unless_kept() -> None:
    with Session([USER / "hello-musl"]) as session:
        session.run()
        output = session.output
        assert output.exists()
    assert not output.exists()
    with Session([USER / "hello-musl"], keep=True) as session:
        session.run()
    assert session.output.exists()
    session.output.unlink()


def test_until_a_violation_stops_at_the_first_finding(tmp_path: Path) -> None:
    until = violation(rules=["kernel-on-app-tcb"])
    with Session([USER / "hello-glibc"], cmdline="tls=broken", output=tmp_path / "t.db") as session:
        result = session.run(until)
    assert result.reason == "until"
    findings = until.findings  # type: ignore[attr-defined]
    assert findings and findings[0].rule == "kernel-on-app-tcb"
    assert read_all(tmp_path / "t.db")[-2].seq >= findings[0].seq


def test_signal_handlers_are_as_they_were_after_a_session(tmp_path: Path) -> None:
    import signal

    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    with Session([USER / "hello-musl"], output=tmp_path / "t.db") as session:
        session.run()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
