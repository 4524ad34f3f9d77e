"""While the guest runs, the tracer's threads yield the CPU to gdb and QEMU (a higher nice, and
SCHED_BATCH where sched_setattr is there), and get their priority and policy back afterwards;
where it could not be given back, it is not taken."""

from __future__ import annotations

import os
import threading

import pytest

from tracer.capture import priority
from tracer.target import sched


def _nice(tid: int = 0) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


@pytest.mark.skipif(not priority._can_restore_priority(), reason="cannot restore a priority here")
def test_every_thread_runs_nicer_during_the_capture_and_is_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRACER_NICE", raising=False)
    started, done = threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def reader() -> None:  # like the pipe's reader thread, started before the capture runs
        seen["tid"] = threading.get_native_id()
        started.set()
        done.wait(5)

    worker = threading.Thread(target=reader)
    worker.start()
    started.wait(5)
    before_main, before_reader = _nice(threading.get_native_id()), _nice(seen["tid"])
    batch = sched.set_thread(0)  # sched_setattr(2) there: SCHED_BATCH, else the nice alone
    with priority.tracer_yields_cpu():
        assert _nice(threading.get_native_id()) == min(19, before_main + 10)
        assert _nice(seen["tid"]) == min(19, before_reader + 10)
        if batch:
            assert os.sched_getscheduler(seen["tid"]) == os.SCHED_BATCH
            assert os.sched_getscheduler(0) == os.SCHED_BATCH
    assert _nice(threading.get_native_id()) == before_main
    assert _nice(seen["tid"]) == before_reader
    assert os.sched_getscheduler(seen["tid"]) == os.sched_getscheduler(0) == os.SCHED_OTHER
    done.set()
    worker.join()


def test_tracer_nice_zero_leaves_the_priority_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACER_NICE", "0")
    before = _nice(threading.get_native_id())
    with priority.tracer_yields_cpu():
        assert _nice(threading.get_native_id()) == before


def test_a_priority_that_could_not_be_restored_is_not_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRACER_NICE", raising=False)
    monkeypatch.setattr(priority, "_can_restore_priority", lambda: False)
    before = _nice(threading.get_native_id())
    with priority.tracer_yields_cpu():
        assert _nice(threading.get_native_id()) == before


@pytest.mark.skipif(not priority._can_restore_priority(), reason="cannot restore a priority here")
def test_a_thread_under_another_policy_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller's thread already at SCHED_BATCH (or IDLE) is left under it: only its nice moves,
    and comes back."""
    monkeypatch.delenv("TRACER_NICE", raising=False)
    done, seen = threading.Event(), {}

    def caller_thread() -> None:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        seen["tid"] = threading.get_native_id()
        done.wait(5)

    worker = threading.Thread(target=caller_thread)
    worker.start()
    while "tid" not in seen:
        threading.Event().wait(0.01)
    before = _nice(seen["tid"])
    with priority.tracer_yields_cpu():
        assert os.sched_getscheduler(seen["tid"]) == os.SCHED_BATCH
        assert _nice(seen["tid"]) == min(19, before + 10)
    assert os.sched_getscheduler(seen["tid"]) == os.SCHED_BATCH
    assert _nice(seen["tid"]) == before
    done.set()
    worker.join()
