"""Security: the gdbstub only on a unix socket in a private 0700 directory, removed afterwards;
no TCP listener, ever; trace files 0600 whatever the umask; no shell between the tool and the
processes it starts."""

from __future__ import annotations

import ast
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from capture_support import build_guest
from test_faults_support import USER, cmdline, tracer_env

from tracer.api import Session

PACKAGE = Path(__file__).resolve().parents[2] / "tracer"
LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's st column


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def tcp_listeners() -> set[int]:
    """Inodes of every listening TCP socket on the machine (IPv4 and IPv6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == LISTEN:
                inodes.add(int(fields[9]))
    return inodes


def unix_listeners() -> dict[int, str]:
    out = {}
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[5] == "01":  # SS_UNCONNECTED: a listening socket
            out[int(fields[6])] = fields[7]
    return out


@pytest.mark.qemu
def test_gdbstub_is_a_private_unix_socket_and_nothing_listens_on_tcp(tmp_path: Path) -> None:
    build_guest()
    seen: dict[str, object] = {}
    with Session([USER / "hello-glibc"], output=tmp_path / "t.db") as session:
        for _event in session.events():
            if seen:
                continue
            assert session.qemu_pid and session.gdb_pid and session.private_dir
            private = session.private_dir
            info = private.stat()
            seen["mode"] = stat.S_IMODE(info.st_mode)
            seen["owner"] = info.st_uid
            socket_path = private / "gdb.sock"
            seen["is_socket"] = stat.S_ISSOCK(socket_path.stat().st_mode)
            mine = socket_inodes(session.qemu_pid) | socket_inodes(session.gdb_pid)
            seen["tcp"] = mine & tcp_listeners()
            seen["unix"] = {unix_listeners().get(i) for i in mine} - {None}
            seen["argv"] = cmdline(session.qemu_pid)
            seen["dir"] = private
        assert session.result is not None and session.result.failure() is None
    assert seen["mode"] == 0o700 and seen["owner"] == os.getuid()
    assert seen["is_socket"]
    assert seen["tcp"] == set(), "QEMU or gdb listens on TCP"
    assert seen["unix"] == {str(seen["dir"] / "gdb.sock")}  # the one listener there is
    argv = seen["argv"]
    assert isinstance(argv, list)
    assert "-s" not in argv and not any("tcp:" in a or "telnet" in a for a in argv)
    assert argv[argv.index("-monitor") + 1] == "none" and "-qmp" not in argv
    assert not Path(str(seen["dir"])).exists(), "the private directory outlived the capture"
    assert stat.S_IMODE((tmp_path / "t.db").stat().st_mode) == 0o600


@pytest.mark.qemu
def test_trace_file_is_0600_even_with_umask_0(tmp_path: Path) -> None:
    build_guest()
    trace = tmp_path / "open.db"
    proc = subprocess.run(
        [sys.executable, "-m", "tracer.cli", "capture", "-q", "-o", str(trace)],
        cwd=tmp_path,
        env=tracer_env(),
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.umask(0),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(trace.stat().st_mode) == 0o600


# --- no shell ---------------------------------------------------------------------------------

SHELL_CALLS = {
    "system",
    "popen",
    "getoutput",
    "getstatusoutput",
    "create_subprocess_shell",
    "spawn",
}
PROCESS_CALLS = {"Popen", "run", "call", "check_call", "check_output"}


def _calls(path: Path) -> list[ast.Call]:
    return [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)]


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _on_subprocess(call: ast.Call) -> bool:
    func = call.func
    return isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "subprocess"


def test_no_shell_anywhere_in_the_tool() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for call in _calls(path):
            name = _name(call)
            where = f"{path.relative_to(PACKAGE)}:{call.lineno}"
            if name in SHELL_CALLS:
                offenders.append(f"{where} {name}()")
            for keyword in call.keywords:
                if keyword.arg == "shell" and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                ):
                    offenders.append(f"{where} shell=")
            if name in PROCESS_CALLS and _on_subprocess(call) and call.args:
                argv = call.args[0]
                if isinstance(argv, ast.JoinedStr | ast.BinOp) or (
                    isinstance(argv, ast.Constant) and isinstance(argv.value, str)
                ):
                    offenders.append(f"{where} {name}() with a command string")
    assert offenders == []


def test_the_scan_would_catch_a_shell(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os, subprocess\nos.system('x')\nsubprocess.run(f'ls {x}', shell=True)\n")
    calls = _calls(bad)
    assert "system" in [_name(c) for c in calls]
    assert any(k.arg == "shell" for c in calls for k in c.keywords)
    assert any(_on_subprocess(c) and isinstance(c.args[0], ast.JoinedStr) for c in calls)
