"""`tracer capture --vdso`: the static glibc and musl vDSO programs' clock calls, which no
syscall shows, appear as user-side calls (no boundary crossed) and read recognisably in the
report; without --vdso there are none. The tracer finds the vDSO from outside (the auxiliary
vector, the image's dynamic symbols): nothing about the guest's vDSO is known beforehand."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from capture_support import USER, build_guest

from tracer.cli import main
from tracer.events import Note, ProcessEvent, SyscallEntry, VdsoCall
from tracer.store import TraceReader

pytestmark = pytest.mark.qemu

CLOCK_GETTIME = 228
ROUNDS = 1000  # guest/user/vdso.c's CLOCK_MONOTONIC calls


def _capture(tmp: Path, *extra: str) -> list:
    tmp.mkdir(parents=True, exist_ok=True)
    trace = tmp / "trace.db"
    argv = ["capture", "-o", str(trace), *extra, "--no-ftrace"]
    for name in ("vdso-glibc", "vdso-musl"):
        argv += ["--program", str(USER / name)]
    assert main(argv) == 0
    with TraceReader.open(trace) as reader:
        return list(reader.events())


def test_vdso_calls_are_seen_with_vdso_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_guest()
    events = _capture(tmp_path / "with", "--vdso")
    pids = {e.name: e.pid for e in events if isinstance(e, ProcessEvent) and e.action == "start"}
    assert set(pids) == {"vdso-glibc", "vdso-musl"}
    calls = [e for e in events if isinstance(e, VdsoCall)]
    assert calls and not any(call.crossing for call in calls)
    for name, pid in pids.items():
        mine = Counter((c.name, c.args[0]) for c in calls if c.pid == pid)
        assert mine[("clock_gettime", 1)] == ROUNDS, (name, mine)  # CLOCK_MONOTONIC
        assert mine[("clock_gettime", 0)] >= 1 or mine[("gettimeofday", 0)] >= 1, mine
        # the CPU-time clock: the vDSO's own fallback is the one syscall
        assert mine[("clock_gettime", 2)] == 1, mine
        syscalls = Counter(e.nr for e in events if isinstance(e, SyscallEntry) and e.pid == pid)
        assert syscalls[CLOCK_GETTIME] == 1
    glibc = {c.name for c in calls if c.pid == pids["vdso-glibc"]}
    assert {"clock_gettime", "gettimeofday", "time", "getcpu"} <= glibc
    notes = [e.text for e in events if isinstance(e, Note) and e.text.startswith("vDSO at ")]
    assert len(notes) == 1  # one image, mapped at one place in both processes
    assert "clock_gettime, getcpu, gettimeofday, time" in notes[0]
    capsys.readouterr()

    assert main(["report", str(tmp_path / "with" / "trace.db")]) == 0
    report = capsys.readouterr().out.splitlines()
    monotonic = [line for line in report if "clock_gettime(CLOCK_MONOTONIC, 0x" in line]
    assert len(monotonic) == 2 * ROUNDS and all(line.endswith(") [vdso]") for line in monotonic)
    assert any("time(NULL) [vdso]" in line for line in report)

    without = _capture(tmp_path / "without")
    assert not [e for e in without if isinstance(e, VdsoCall)]
    assert [e.nr for e in without if isinstance(e, SyscallEntry)].count(CLOCK_GETTIME) == 2
