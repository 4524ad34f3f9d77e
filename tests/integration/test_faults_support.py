"""What the fault tests share: running `tracer capture` as a child, reading the process table,
building small guest programs. Holds no tests itself."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from capture_support import BOOT_IMAGE, KERNEL, REPO, USER

from tracer.events import Event
from tracer.store import TraceFileError, TraceReader

__all__ = ["BOOT_IMAGE", "KERNEL", "REPO", "USER"]

FUZZER = USER / "fuzzer"
FOREVER = "100000000"  # fuzzer syscalls: far more than any test waits for


def tracer_env(extra_path: Path | None = None) -> dict[str, str]:
    """The environment for a `tracer` child: this checkout first, optionally fake tools first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env.pop("TRACER_DEBUG", None)
    if extra_path is not None:
        env["PATH"] = f"{extra_path}{os.pathsep}{env.get('PATH', '')}"
    return env


def start_tracer(
    args: Sequence[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tracer.cli", *args],
        cwd=cwd,
        env=env or tracer_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass
class Finished:
    status: int
    stdout: str
    stderr: str

    def error_line(self) -> str:
        """The one line the tool printed on stderr: no traceback, nothing else."""
        assert "Traceback" not in self.stderr, self.stderr
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one line on stderr, got:\n{self.stderr}"
        assert lines[0].startswith("tracer: error: "), lines[0]
        return lines[0]


def finish(proc: subprocess.Popen[str], timeout: float = 90.0) -> Finished:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"tracer did not end within {timeout:g} s; stderr: {err}")
    return Finished(proc.returncode, out, err)


def run_tracer(
    args: Sequence[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120.0
) -> Finished:
    return finish(start_tracer(args, cwd, env), timeout)


# --- the process table -----------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    comm: str
    state: str


def process_table() -> dict[int, Proc]:
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm is in parentheses and may hold spaces: split around the last ')'.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2 :].split()
        table[int(entry)] = Proc(int(entry), int(rest[1]), comm, rest[0])
    return table


def descendants(pid: int) -> list[Proc]:
    table = process_table()
    out, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for proc in table.values():
            if proc.ppid == parent:
                out.append(proc)
                frontier.append(proc.pid)
    return out


def running(pid: int, comm_prefix: str) -> bool:
    """Is `pid` still a live process with that name (not a zombie, not a reused pid)?"""
    proc = process_table().get(pid)
    return proc is not None and proc.state != "Z" and proc.comm.startswith(comm_prefix)


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


@dataclass
class Children:
    """The QEMU and gdb a `tracer` process started, and QEMU's private directory."""

    qemu: int | None = None
    gdb: int | None = None
    private_dir: Path | None = None
    others: list[Proc] = field(default_factory=list)

    def pids(self) -> list[tuple[int, str]]:
        out = []
        if self.qemu is not None:
            out.append((self.qemu, "qemu-system"))
        if self.gdb is not None:
            out.append((self.gdb, "gdb"))
        return out


def children_of(pid: int) -> Children:
    found = Children()
    for proc in descendants(pid):
        if proc.comm.startswith("qemu-system"):
            found.qemu = proc.pid
            for arg in cmdline(proc.pid):
                if arg.startswith("socket,id=gdb0,path="):
                    path = arg.split("path=", 1)[1].split(",server")[0]
                    found.private_dir = Path(path).parent
        elif proc.comm == "gdb":
            found.gdb = proc.pid
        else:
            found.others.append(proc)
    return found


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a condition (a state of the world, not a duration) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def assert_nothing_left(children: Children, timeout: float = 10.0) -> None:
    """No QEMU or gdb the capture started is still running, and its private dir is gone."""
    for pid, name in children.pids():
        wait_for(
            lambda pid=pid, name=name: not running(pid, name), timeout, f"{name} (pid {pid}) to end"
        )
    if children.private_dir is not None:
        assert not children.private_dir.exists(), f"{children.private_dir} was left behind"


# --- traces ----------------------------------------------------------------------------------


def recorded(path: Path, kinds: str | None = None) -> int:
    """Events (of `kinds`) committed so far to a trace that may still be written (0 before the
    first batch)."""
    try:
        with TraceReader.open(path) as reader:
            return reader.count(kinds=kinds) if kinds else reader.count()
    except (TraceFileError, OSError):
        return 0


def read_all(path: Path) -> list[Event]:
    with TraceReader.open(path) as reader:
        return list(reader.events())


def assert_contiguous(events: list[Event]) -> None:
    """Every event recorded up to the cut: seq runs 1, 2, 3 ... with no hole."""
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), "the trace has holes"


def send(pid: int, sig: signal.Signals) -> None:
    os.kill(pid, sig)


# --- guest programs built by the tests -------------------------------------------------------


def build_static(tmp: Path, name: str, source: str) -> Path:
    """A static x86-64 program from C source (gcc -static), for the built-in guest."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    src = tmp / f"{name}.c"
    src.write_text(source)
    out = tmp / name
    proc = subprocess.run(
        ["gcc", "-static", "-O1", "-o", str(out), str(src)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"gcc -static failed (no static libc?): {proc.stderr[-300:]}")
    return out


def write_script(directory: Path, name: str, body: str) -> Path:
    """An executable Python script run by this interpreter (a fake tool on PATH)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)
    return path
