"""Ctrl-C in a pytest run whose module-scoped fixture captures the real guest: pytest stops
(it used to go on to the next param's capture after every Ctrl-C), and no QEMU or gdb is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from capture_support import build_guest
from test_faults_support import (
    REPO,
    assert_nothing_left,
    children_of,
    recorded,
    send,
    wait_for,
)

pytestmark = pytest.mark.qemu

INTEGRATION = Path(__file__).resolve().parent

PYTEST_RUN = """
import os
from pathlib import Path

import pytest
from capture_support import run_capture
from test_faults_support import FOREVER

OUT = Path(os.environ["OUT"])


@pytest.fixture(scope="module", params=["first", "second"])
def captured(request):
    (OUT / f"started-{request.param}").touch()
    return run_capture(OUT / request.param, [("fuzzer", (FOREVER, "7"))])


def test_one(captured):
    pass
"""


@pytest.fixture(scope="module", autouse=True)
def guest() -> None:
    build_guest()


def test_ctrl_c_stops_a_pytest_run_of_captures_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "test_interrupted.py").write_text(textwrap.dedent(PYTEST_RUN))
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, OUT=str(out), PYTHONPATH=f"{REPO}{os.pathsep}{INTEGRATION}")
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
            "--rootdir", str(tmp_path), "test_interrupted.py"]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=tmp_path, env=env, text=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        trace = out / "first" / "trace-default.db"
        wait_for(lambda: recorded(trace, "syscall_entry") >= 20, 120, "the capture to record")
        children = children_of(proc.pid)
        assert children.qemu is not None and children.gdb is not None, children
        send(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "CaptureInterrupted: interrupted" in output
    assert not (out / "started-second").exists()
    assert_nothing_left(children)
