"""A program's exit status is data, as strace treats it: the capture itself succeeded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from capture_support import USER, build_guest
from test_faults_support import run_tracer

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module", autouse=True)
def guest() -> None:
    build_guest()


def test_a_program_that_exits_3_is_a_completed_capture(tmp_path: Path) -> None:
    trace = tmp_path / "exit3.db"
    done = run_tracer(
        ["capture", "--no-ftrace", "--program", str(USER / "exit3"), "-o", str(trace), "--json"],
        cwd=tmp_path,
    )
    assert done.status == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["ok"] and summary["failure"] is None
    assert summary["programs"] == [{"path": str(USER / "exit3"), "pid": 1, "status": 3}]
    assert summary["program_status"] == 3
    report = run_tracer(["report", str(trace)], cwd=tmp_path)
    assert report.stdout.rstrip().endswith("+++ exited with 3 +++")
