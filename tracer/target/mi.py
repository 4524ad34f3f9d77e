"""The gdb/MI boundary: a token-matched command channel over gdb's pipes.

pygdbmi parses each MI line; its dicts become `MiRecord`s here and go no further. Commands wait on
a condition variable fed by a reader thread, never on a sleep, so one round trip costs what gdb
costs. Asynchronous records (`*stopped`, `=thread-group-exited`, console output) go to a queue.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pygdbmi import gdbmiparser

from tracer.target.errors import GdbDied, GdbError, TargetTimeout

# A gdb that has printed only non-MI lines for this long is not speaking MI at all.
NOT_MI_AFTER = 2.0


@dataclass(frozen=True, slots=True)
class MiRecord:
    """One MI output record: `kind` is result, notify (async *, =), console, log, target, output."""

    kind: str
    message: str | None
    payload: Any
    token: int | None = None

    @property
    def text(self) -> str:
        return self.payload if isinstance(self.payload, str) else ""


@dataclass(frozen=True, slots=True)
class MiResult:
    """The answer to one command: its result class and what gdb printed while running it."""

    message: str
    payload: dict[str, Any]
    console: str

    def get(self, key: str, default: Any = None) -> Any:
        return self.payload.get(key, default) if isinstance(self.payload, dict) else default


def _to_record(parsed: dict[str, Any]) -> MiRecord | None:
    kind = parsed.get("type")
    if kind == "done":
        return None
    return MiRecord(
        kind=str(kind),
        message=parsed.get("message"),
        payload=parsed.get("payload"),
        token=parsed.get("token"),
    )


def mi_quote(text: str) -> str:
    """Quote a string as an MI c-string argument."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class _Pending:
    __slots__ = ("done", "result", "console")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: MiRecord | None = None
        self.console: list[str] = []


class MiChannel:
    """Send MI commands with tokens and wait for their results; collect async records."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        pass_fds: Sequence[int] = (),
        env: dict[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self._proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=tuple(pass_fds),
            env=env,
            preexec_fn=preexec_fn,
            bufsize=0,
            start_new_session=True,
        )
        self._tokens = itertools.count(1)
        self._lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._current: _Pending | None = None
        self.events: queue.Queue[MiRecord] = queue.Queue()
        self._dead = threading.Event()
        self._unparsed: collections.deque[str] = collections.deque(maxlen=20)
        self._first_unparsed: float | None = None
        self._mi_seen = False
        self._reader = threading.Thread(target=self._read_loop, name="gdb-mi-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self._proc

    @property
    def alive(self) -> bool:
        return not self._dead.is_set() and self._proc.poll() is None

    def describe_exit(self) -> str:
        """How gdb ended, and the last thing it printed that was not MI, in one line."""
        try:  # its output closes a moment before its exit status can be read
            code: int | None = self._proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            text = "gdb closed its output"
        elif code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            text = f"gdb was killed by {name}"
        else:
            text = f"gdb exited with status {code}"
        if self._unparsed:
            text += f"; it printed: {_clip(self._unparsed[-1])!r}"
        return text

    def command(self, cmd: str, timeout: float = 30.0, *, check: bool = True) -> MiResult:
        """Run one MI command (or CLI command, which gdb wraps) and wait for its result record."""
        name = cmd.split()[0] if cmd.split() else cmd
        if not self.alive:
            raise GdbDied(f"{self.describe_exit()} (before {name})")
        token = next(self._tokens)
        pending = _Pending()
        with self._lock:
            self._pending[token] = pending
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write(f"{token}{cmd}\n".encode())
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            self._forget(token)
            raise GdbDied(f"{self.describe_exit()} (running {name})") from None
        answered = self._wait(pending, timeout)
        self._forget(token)
        if not answered or pending.result is None:
            if self._speaks_no_mi():
                raise GdbError(
                    f"gdb does not speak gdb/MI; it printed: {_clip(self._unparsed[0])!r}"
                )
            if not self.alive or pending.result is None and self._dead.is_set():
                raise GdbDied(f"{self.describe_exit()} (running {name})")
            raise TargetTimeout(f"gdb did not answer {name} within {timeout:g} s")
        record = pending.result
        payload = record.payload if isinstance(record.payload, dict) else {}
        result = MiResult(str(record.message), payload, "".join(pending.console))
        if check and result.message == "error":
            message = " ".join(str(payload.get("msg", "unknown gdb error")).split())
            raise GdbError(message)
        return result

    def _speaks_no_mi(self) -> bool:
        first = self._first_unparsed
        return not self._mi_seen and first is not None and time.monotonic() - first >= NOT_MI_AFTER

    def console(self, cli: str, timeout: float = 30.0) -> str:
        """Run a CLI command and return what it printed."""
        result = self.command(f"-interpreter-exec console {mi_quote(cli)}", timeout)
        return result.console

    def _wait(self, pending: _Pending, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not pending.done.wait(timeout=0.25):
            if self._dead.is_set() or time.monotonic() > deadline or self._speaks_no_mi():
                return pending.done.is_set()
        return True

    def _forget(self, token: int) -> None:
        with self._lock:
            self._pending.pop(token, None)
            if self._current is not None and self._current.done.is_set():
                self._current = None

    def _read_loop(self) -> None:
        stdout = self._proc.stdout
        assert stdout is not None
        try:
            for raw in stdout:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line:
                    self._dispatch(line)
        except (OSError, ValueError):
            pass
        finally:
            self._dead.set()
            with self._lock:
                for pending in self._pending.values():
                    pending.done.set()

    def _dispatch(self, line: str) -> None:
        try:
            record = _to_record(gdbmiparser.parse_response(line))
        except Exception:  # pygdbmi raises plain exceptions on malformed input
            record = MiRecord("output", None, line)
        if record is None:
            return
        if record.kind == "output":
            if self._first_unparsed is None:
                self._first_unparsed = time.monotonic()
            self._unparsed.append(record.text)
            return
        self._mi_seen = True
        with self._lock:
            if record.kind == "result" and record.token in self._pending:
                pending = self._pending[record.token]
                pending.result = record
                pending.done.set()
                return
            current = self._oldest_pending()
        if record.kind == "console" and current is not None:
            current.console.append(record.text)
            return
        self.events.put(record)

    def _oldest_pending(self) -> _Pending | None:
        if not self._pending:
            return None
        return self._pending[min(self._pending)]

    def close(self, timeout: float = 2.0) -> None:
        """End gdb: ask politely, then terminate, then kill. Never raises."""
        proc = self._proc
        if proc.poll() is None and self._mi_seen and proc.stdin is not None:
            # Something that never spoke MI would not understand -gdb-exit either.
            with contextlib.suppress(OSError, ValueError, subprocess.TimeoutExpired):
                proc.stdin.write(b"-gdb-exit\n")
                proc.stdin.flush()
                proc.wait(timeout=timeout)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        self._reader.join(timeout=1.0)


def _clip(line: str, width: int = 120) -> str:
    line = "".join(ch if ch.isprintable() else "?" for ch in line)
    return line if len(line) <= width else line[: width - 3] + "..."
