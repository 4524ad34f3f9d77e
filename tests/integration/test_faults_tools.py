"""gdb and QEMU misbehaving, played by fake binaries put first on PATH: a gdb that is not gdb,
one that refuses to connect, one whose MI stream carries garbage; a QEMU whose gdbstub socket
never appears, one that dies at start. And two captures at once that must not interfere.

Every fake records its pid (and the real tool it wraps records its own), so the tests can
check that nothing is left running once `tracer` has ended.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from capture_support import build_guest
from test_faults_support import (
    USER,
    Finished,
    read_all,
    run_tracer,
    running,
    tracer_env,
    wait_for,
    write_script,
)

from tracer.events import Gap, ProcessEvent, SyscallEntry

pytestmark = pytest.mark.qemu

RECORD = """
import os, sys
def record(pid, what):
    with open(os.path.join({log!r}, f"{{what}}.{{pid}}"), "w") as f:
        f.write(" ".join(sys.argv))
"""

# exec keeps the pid: the real tool runs under the pid just recorded.
EXEC_REAL = (
    RECORD
    + """
record(os.getpid(), {name!r})
os.execv({real!r}, [{real!r}, *sys.argv[1:]])
"""
)

GDB_NOT_MI_THEN_EXIT = (
    RECORD
    + """
record(os.getpid(), "gdb")
print("this is not gdb: no MI here", flush=True)
sys.exit(3)
"""
)

GDB_NOT_MI_FOREVER = (
    RECORD
    + """
import time
record(os.getpid(), "gdb")
while True:
    print("GNU gdb? no: garbage garbage garbage", flush=True)
    time.sleep(0.2)
"""
)

QEMU_NO_SOCKET = (
    RECORD
    + """
import time
record(os.getpid(), "qemu")
while True:
    time.sleep(1)
"""
)

QEMU_DIES = (
    RECORD
    + """
record(os.getpid(), "qemu")
print("qemu-system-x86_64: could not load kernel: Permission denied", file=sys.stderr)
sys.exit(1)
"""
)

# A gdb in front of the real one: passes MI both ways, but refuses -target-select ("refuse")
# or mixes malformed and unexpected records into its output ("noise").
GDB_PROXY = (
    RECORD
    + """
import ctypes, signal, subprocess, threading
record(os.getpid(), "gdb")
fds = [int(os.environ["TRACER_AGENT_FD"])] if "TRACER_AGENT_FD" in os.environ else []

def die_with_parent():
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)

child = subprocess.Popen([{real!r}, *sys.argv[1:]], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, pass_fds=fds, preexec_fn=die_with_parent)
record(child.pid, "gdb")
out = sys.stdout.buffer
lock = threading.Lock()
NOISE = [
    b"this line is not MI at all\\n",
    b'^done,value="unterminated\\n',
    b'=tracer-unknown-notification,x="1",y={{z="2"}}\\n',
    b'999999^done,bogus="token"\\n',
    b'*running,thread-id="all"\\n',
    b"\\xff\\xfe binary \\x00 junk\\n",
    b'{{"seq": not json}}\\n',
    b'&"warning: something odd\\\\n"\\n',
    b'=thread-group-exited,id="i99"\\n'[:12] + b"\\n",
]

def send(data):
    with lock:
        out.write(data)
        out.flush()

def pump():
    count = 0
    for line in child.stdout:
        count += 1
        if {mode!r} == "noise" and count % 2 == 0:
            send(NOISE[count % len(NOISE)])
        send(line)
    os._exit(child.wait())

threading.Thread(target=pump, daemon=True).start()
for line in sys.stdin.buffer:
    if {mode!r} == "refuse" and b"-target-select" in line:
        token = line.split(b"-", 1)[0]
        send(token + b'^error,msg="Remote replied unexpectedly to \\'vMustReplyEmpty\\': '
             b'timeout"\\n')
        continue
    child.stdin.write(line)
    child.stdin.flush()
child.stdin.close()
child.wait()
"""
)


@pytest.fixture(scope="module", autouse=True)
def guest() -> None:
    build_guest()


class Tools:
    """A bin directory of fakes, and the pids they recorded."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.log = root / "pids"
        self.log.mkdir(parents=True)
        self.real_gdb = shutil.which("gdb")
        self.real_qemu = shutil.which("qemu-system-x86_64")
        assert self.real_gdb and self.real_qemu

    def gdb(self, template: str, mode: str = "") -> None:
        write_script(
            self.bin,
            "gdb",
            template.format(log=str(self.log), real=self.real_gdb, name="gdb", mode=mode),
        )

    def qemu(self, template: str = EXEC_REAL) -> None:
        write_script(
            self.bin,
            "qemu-system-x86_64",
            template.format(log=str(self.log), real=self.real_qemu, name="qemu"),
        )

    def pids(self, what: str) -> list[int]:
        return [int(p.name.split(".")[1]) for p in self.log.glob(f"{what}.*")]

    def argv(self, what: str) -> list[str]:
        return [p.read_text() for p in self.log.glob(f"{what}.*")]

    def assert_nothing_left(self) -> None:
        for what, comm in (("gdb", ""), ("qemu", "")):
            for pid in self.pids(what):
                wait_for(
                    lambda pid=pid, comm=comm: not running(pid, comm),
                    10,
                    f"{what} pid {pid} to end",
                )

    def capture(self, tmp: Path, *extra: str, program: str = "hello-glibc") -> Finished:
        trace = tmp / "trace.db"
        return run_tracer(
            ["capture", "--program", str(USER / program), "-o", str(trace), *extra],
            cwd=tmp,
            env=tracer_env(self.bin),
        )


@pytest.fixture
def tools(tmp_path: Path) -> Tools:
    return Tools(tmp_path)


def test_a_gdb_that_prints_garbage_and_exits(tmp_path: Path, tools: Tools) -> None:
    tools.gdb(GDB_NOT_MI_THEN_EXIT)
    tools.qemu()
    done = tools.capture(tmp_path)
    assert done.status == 1
    line = done.error_line()
    assert "starting gdb: gdb exited with status 3" in line
    assert "this is not gdb" in line
    assert tools.pids("qemu"), "QEMU was started first"
    tools.assert_nothing_left()


def test_a_gdb_that_never_speaks_mi(tmp_path: Path, tools: Tools) -> None:
    tools.gdb(GDB_NOT_MI_FOREVER)
    tools.qemu()
    done = tools.capture(tmp_path)
    assert done.status == 1
    line = done.error_line()
    assert "gdb does not speak gdb/MI" in line and "garbage" in line
    tools.assert_nothing_left()


def test_a_gdb_that_refuses_to_connect(tmp_path: Path, tools: Tools) -> None:
    tools.gdb(GDB_PROXY, mode="refuse")
    tools.qemu()
    done = tools.capture(tmp_path)
    assert done.status == 1
    line = done.error_line()
    assert "connecting gdb to QEMU's gdbstub: Remote replied unexpectedly" in line
    trace = read_all(tmp_path / "trace.db")
    assert isinstance(trace[-1], Gap) and "Remote replied" in trace[-1].reason
    assert len(tools.pids("gdb")) == 2  # the proxy and the real gdb behind it
    tools.assert_nothing_left()


def syscall_names(trace: Path) -> list[tuple[int, tuple[int, ...]]]:
    """Syscall numbers and arguments in order. An entry recorded twice in a row (same call,
    same user RIP) counts once: the agent now and then sees one entry twice, with or without
    fakes, and that is not what these tests are about."""
    calls: list[tuple[int, tuple[int, ...]]] = []
    last = None
    for event in read_all(trace):
        if isinstance(event, SyscallEntry):
            key = (event.nr, event.args, event.user_rip)
            if key != last:
                calls.append((event.nr, event.args))
            last = key
    return calls


def test_garbage_in_the_mi_stream_changes_nothing(tmp_path: Path, tools: Tools) -> None:
    clean = run_tracer(
        ["capture", "--program", str(USER / "hello-glibc"), "-o", str(tmp_path / "clean.db")],
        cwd=tmp_path,
    )
    assert clean.status == 0, clean.stderr
    tools.gdb(GDB_PROXY, mode="noise")
    tools.qemu()
    noisy = tools.capture(tmp_path)
    assert noisy.status == 0, noisy.stderr
    assert syscall_names(tmp_path / "trace.db") == syscall_names(tmp_path / "clean.db")
    tools.assert_nothing_left()


def test_a_gdbstub_socket_that_never_appears(tmp_path: Path, tools: Tools) -> None:
    tools.qemu(QEMU_NO_SOCKET)
    done = tools.capture(tmp_path, "--start-timeout", "1")
    assert done.status == 1
    assert "QEMU's gdbstub socket did not appear within 1 s" in done.error_line()
    assert tools.pids("qemu")
    tools.assert_nothing_left()
    assert not list(Path(p) for p in tmp_path.glob("tracer-*"))


def test_a_qemu_that_dies_at_start(tmp_path: Path, tools: Tools) -> None:
    tools.qemu(QEMU_DIES)
    done = tools.capture(tmp_path)
    assert done.status == 1
    line = done.error_line()
    assert "QEMU exited at start" in line and "could not load kernel" in line
    tools.assert_nothing_left()


def test_two_captures_at_once_do_not_interfere(tmp_path: Path, tools: Tools) -> None:
    tools.qemu()  # the real QEMU, recording its pid and command line
    runs: dict[str, Finished] = {}

    def one(program: str) -> None:
        work = tmp_path / program
        work.mkdir()
        runs[program] = tools.capture(work, program=program)

    threads = [threading.Thread(target=one, args=(p,)) for p in ("hello-glibc", "hello-musl")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for program, done in runs.items():
        assert done.status == 0, done.stderr
        events = read_all(tmp_path / program / "trace.db")
        names = {e.name for e in events if isinstance(e, ProcessEvent)}
        assert names == {program}
    sockets = {
        a.split("path=")[1].split(",")[0]
        for a in " ".join(tools.argv("qemu")).split()
        if a.startswith("socket,id=gdb0,path=")
    }
    assert len(sockets) == 2, "each capture has its own private socket directory"
    alone = tmp_path / "alone"
    alone.mkdir()
    assert tools.capture(alone, program="hello-musl").status == 0
    assert syscall_names(alone / "trace.db") == syscall_names(tmp_path / "hello-musl" / "trace.db")
    tools.assert_nothing_left()
