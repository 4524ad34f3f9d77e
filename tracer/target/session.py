"""One object that owns QEMU, gdb and the agent's pipe, and ends them all whatever happens."""

from __future__ import annotations

import contextlib
import queue
import re
import signal
import threading
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Any

from tracer.target.errors import GdbDied, GdbError, TargetError, Terminated
from tracer.target.gdb import Gdb, read_hits, to_stop_event
from tracer.target.protocol import SessionEnd
from tracer.target.qemu import QemuConfig, QemuMachine
from tracer.target.records import AgentRecord, StopEvent


class SessionState(StrEnum):
    NEW = "new"
    READY = "ready"
    RUNNING = "running"
    STOPPED = "stopped"
    CLOSED = "closed"


class _Hold:
    """The handler of a deferral: notes each signal that arrives."""

    def __init__(self, arrived: list[int]) -> None:
        self.arrived = arrived

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.arrived.append(signum)


@contextlib.contextmanager
def signals_deferred(arrived: list[int] | None = None) -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM while cleanup runs, so a second Ctrl-C cannot cut it short.

    Yields the list of signals that arrived (`arrived`, when given, for a caller that acts on
    them afterwards); a deferral inside another hands them on to it. Only the main thread can
    do this (elsewhere the block runs as is). Cleanup is bounded by its own timeouts, so nothing
    waits forever.
    """
    arrived = [] if arrived is None else arrived
    if threading.current_thread() is not threading.main_thread():
        yield arrived
        return
    held = len(arrived)
    hold = _Hold(arrived)
    old = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield arrived
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for signum in arrived[held:]:
            outer = old[signal.Signals(signum)]
            if isinstance(outer, _Hold) and outer.arrived is not arrived:
                outer.arrived.append(signum)


def redeliver(arrived: list[int]) -> None:
    """Signals a deferral held, given now to the handlers it put back (a deferral inside
    another has already handed them on to it): between two steps of work, not inside one."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in arrived:
        handler = signal.getsignal(signum)
        if isinstance(handler, _Hold):
            continue
        if callable(handler):
            handler(signum, None)
        elif handler == signal.SIG_DFL:
            signal.raise_signal(signum)


class TargetSession:
    """QEMU halted at reset + gdb connected to it with the agent loaded.

    Leaving the `with` block (normally, by exception, Ctrl-C or SIGTERM) flushes the agent,
    drains its pipe, ends gdb and QEMU, and removes the private directory.
    """

    def __init__(
        self,
        kernel_elf: Path,
        qemu: QemuConfig,
        symbol_files: tuple[Path, ...] = (),
        *,
        start_timeout: float = 10.0,
        trust_readonly: bool = True,
    ) -> None:
        self.kernel_elf = kernel_elf
        self.start_timeout = start_timeout
        self.qemu = QemuMachine(qemu)
        self.gdb = Gdb(kernel_elf, trust_readonly=trust_readonly)
        self.symbol_files = symbol_files
        self.state = SessionState.NEW
        self.hits: queue.Queue[AgentRecord | None] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._old_sigterm: Any = None
        self._end: SessionEnd | None = None
        self.agent_stats: dict[str, int] = {}

    @property
    def scratch(self) -> Path:
        return self.qemu.files.directory

    def open(self) -> TargetSession:
        self._install_sigterm()
        self.qemu.start(self.start_timeout)
        with _step("starting gdb"):
            self.gdb.start()
        for path in self.symbol_files:
            with _step(f"loading symbols from {path.name}"):
                self.gdb.add_symbols(path)
        with _step("connecting gdb to QEMU's gdbstub"):
            self.gdb.connect(self.qemu.files.gdb_socket)
        # The halt at reset is reported asynchronously; it is not a stop the caller asked for.
        for _ in self.gdb.async_records():
            pass
        self._reader = threading.Thread(target=self._read_hits, name="agent-reader", daemon=True)
        self._reader.start()
        self.state = SessionState.READY
        return self

    def _read_hits(self) -> None:
        try:
            read_hits(self.gdb.hits_fd, self.hits.put)
        finally:
            self.hits.put(None)

    def load_agent(self, plan: dict[str, Any]) -> None:
        with _step("loading the agent into gdb"):
            self.gdb.load_agent(plan, self.scratch)

    # The Target Protocol (target/protocol.py): what the capture loop may ask.

    def resume(self) -> None:
        self.gdb.cont()
        self.state = SessionState.RUNNING

    def interrupt(self) -> None:
        with contextlib.suppress(GdbError):  # already stopped by the agent: nothing to do
            self.gdb.interrupt()

    def wait_stopped(self, timeout: float) -> StopEvent:
        stop = self.gdb.wait_stopped(timeout)
        self.state = SessionState.STOPPED
        return stop

    def mark_stopped(self) -> None:
        self.state = SessionState.STOPPED

    def run_until(self, addrs: Sequence[int], timeout: float) -> StopEvent:
        numbers = [self.gdb.insert_breakpoint(addr) for addr in addrs]
        try:
            for _ in self.gdb.async_records():  # a stop already reported is not this one
                pass
            self.resume()
            return self.wait_stopped(timeout)
        finally:
            if numbers and self.gdb.mi.alive:
                self.gdb.delete_breakpoints(numbers)

    def step_instruction(self, timeout: float = 10.0) -> StopEvent:
        return self.gdb.step_instruction(timeout)

    def vcpus(self) -> list[int]:
        return [thread - 1 for thread in self.gdb.threads()]

    def vcpu_registers(self, cpu: int, names: Sequence[str]) -> dict[str, int]:
        return self.gdb.thread_registers(cpu + 1, names)

    def selected_vcpu(self) -> int:
        return self.gdb.selected_thread() - 1

    def select_vcpu(self, cpu: int) -> None:
        self.gdb.select_thread(cpu + 1)

    def read_register(self, name: str) -> int:
        return self.gdb.read_register(name)

    def write_register(self, name: str, value: int) -> None:
        self.gdb.write_register(name, value)

    def read_memory(self, addr: int, length: int) -> bytes:
        return self.gdb.read_memory(addr, length)

    def read_code(self, addr: int, length: int) -> bytes:
        return self.gdb.read_code(addr, length)

    def write_memory(self, addr: int, data: bytes) -> None:
        self.gdb.write_memory(addr, data)

    def arm(self, probes: Sequence[dict[str, Any]]) -> None:
        self.gdb.arm(probes, self.scratch)

    def flush_agent(self) -> int | None:
        """Send the agent's batch now; how many records it has written in all (None: unknown)."""
        text = self.gdb.python("tracer_agent.flush()")
        found = re.search(r"agent flushed (\d+)", text)
        return int(found.group(1)) if found else None

    def set_ring_armed(self, armed: bool) -> None:
        self.gdb.python(f"tracer_agent.set_ring_armed({armed!r})")

    def set_stop_on_lstar(self, stop: bool) -> None:
        self.gdb.python(f"tracer_agent.set_stop_on_lstar({stop!r})")

    def set_stop_first_syscall(self, stop: bool) -> None:
        self.gdb.python(f"tracer_agent.set_stop_first_syscall({stop!r})")

    def set_probes_quiet(self, quiet: bool) -> None:
        self.gdb.python(f"tracer_agent.set_quiet({quiet!r})")

    def set_watchpoints_paused(self, paused: bool) -> None:
        self.gdb.python(f"tracer_agent.set_watch_paused({paused!r})")

    def bench_read(self, addr: int, size: int, reps: int) -> dict[str, int]:
        """A bare gdb read_memory loop in gdb's Python: bytes read and nanoseconds taken."""
        text = self.gdb.python(f"tracer_agent.bench_read({addr}, {size}, {reps})", timeout=60)
        words = (word.partition("=") for word in text.split())
        return {key: int(value) for key, _, value in words if value.isdigit()}

    @property
    def qemu_pid(self) -> int | None:
        return self.qemu.pid

    @property
    def gdb_pid(self) -> int | None:
        return self.gdb.pid

    @property
    def private_dir(self) -> Path | None:
        return self.scratch

    @property
    def control_alive(self) -> bool:
        return self.gdb.pid is not None and self.gdb.mi.alive

    def control_death(self) -> str:
        return self.gdb.mi.describe_exit() if self.gdb.pid is not None else "gdb was not started"

    @property
    def guest_returncode(self) -> int | None:
        return self.qemu.returncode

    def wait_guest(self, timeout: float) -> int | None:
        return self.qemu.wait(timeout=timeout)

    def guest_killed_by(self) -> int | None:
        """The signal that killed QEMU, unless the session itself ended it."""
        code = self.qemu.returncode
        if code is not None and code < 0 and not self.qemu.ended_by_close:
            return -code
        return None

    def triple_faulted(self) -> bool:
        return self.qemu.triple_faulted()

    def poll_stop(self) -> StopEvent | None:
        """A real stop or the target's end, if one was reported; never blocks."""
        for record in self.gdb.async_records():
            stop = to_stop_event(record)
            if stop is not None:
                self.state = SessionState.STOPPED
                return stop
        return None

    def drain(self, timeout: float = 0.05) -> Iterator[AgentRecord | None]:
        """Hits that arrived; None marks the end of the pipe (gdb gone)."""
        try:
            item = self.hits.get(timeout=timeout)
        except queue.Empty:
            return
        yield item
        while True:
            try:
                yield self.hits.get_nowait()
            except queue.Empty:
                return

    def finish(self) -> SessionEnd:
        """Flush the agent, end gdb and QEMU; the pipe then reaches EOF. Never raises.

        Signals are held meanwhile: a second Ctrl-C must not leave QEMU or gdb behind.
        """
        if self._end is not None:
            return self._end
        with signals_deferred():
            written = None
            if self.gdb.pid is not None and self.gdb.mi.alive:
                self._stop_for_final_drain()
                with contextlib.suppress(TargetError, OSError):
                    self.gdb.flush_agent()
                    self.agent_stats = self.gdb.agent_stats()
                    written = self.agent_stats.get("written")
            # QEMU first: its gdbstub lets the guest run on when gdb goes, and what it then
            # did (a program finishing untraced) would be in its console but not in the trace.
            self.qemu.close()
            self.gdb.close()
            if self._reader is not None:
                self._reader.join(timeout=5.0)
            self.gdb.close_hits()
            self.state = SessionState.CLOSED
            self._end = SessionEnd(
                self.qemu.returncode,
                self.qemu.serial_output(),
                self.qemu.triple_faulted(),
                written,
            )
        return self._end

    def _stop_for_final_drain(self) -> None:
        """A guest still running is stopped first: the agent's last drain of the function-graph
        ring reads guest memory, which gdb cannot while the target runs."""
        if self.state is not SessionState.RUNNING or self.qemu.returncode is not None:
            return
        with contextlib.suppress(TargetError, OSError):
            self.gdb.interrupt()
            self.gdb.wait_stopped(2.0)
            self.state = SessionState.STOPPED

    def close(self) -> None:
        with signals_deferred():
            if self.state is not SessionState.CLOSED:
                self.finish()
            self.qemu.remove_files()
        # After the deferral has put its own handlers back, or it would undo this.
        self._restore_sigterm()

    def _install_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            raise Terminated("terminated")

        self._old_sigterm = signal.signal(signal.SIGTERM, on_sigterm)

    def _restore_sigterm(self) -> None:
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None

    def __enter__(self) -> TargetSession:
        try:
            return self.open()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def _step(what: str) -> Iterator[None]:
    """Say which step of the start failed: "connecting gdb to QEMU's gdbstub: <gdb's words>"."""
    try:
        yield
    except TargetError as exc:
        raise type(exc)(f"{what}: {exc}") from None


__all__ = ["GdbDied", "SessionEnd", "SessionState", "TargetSession", "Terminated"]
