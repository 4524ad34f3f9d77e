"""gdb behind an object with a lifecycle: MI control, the agent's pipe, typed results."""

from __future__ import annotations

import json
import os
import queue
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import tracer
from tracer.target.errors import GdbDied, GdbError, TargetError, TargetTimeout, ToolMissing
from tracer.target.mi import MiChannel, MiRecord, mi_quote
from tracer.target.qemu import die_with_parent
from tracer.target.records import AgentError, AgentRecord, ProbeHit, StopEvent, parse_record

AGENT_SCRIPT = Path(__file__).parent / "agent" / "tracer_agent.py"

# Settings that cut remote packets per stop (measured: always-inserted and
# trust-readonly-sections matter most) and keep gdb from asking questions.
FAST_SETTINGS = (
    "set pagination off",
    "set confirm off",
    "set width 0",
    "set height 0",
    "set breakpoint always-inserted on",
    "set trust-readonly-sections on",
    "set auto-load safe-path /",
    "set step-mode on",
    "set print thread-events off",
    "set print inferior-events off",
    "set remotetimeout 10",
)
# Once connected (gdb refuses it before): a single step (the injected rdmsr, stepping into a
# syscall) moves only the vCPU stepped, the others stay where the stop left them (they would
# run the patched instruction or report their own stop); continuing still resumes them all.
CONNECTED_SETTINGS = ("set scheduler-locking step",)


def agent_env(records_fd: int) -> dict[str, str]:
    """gdb's environment for the agent: the descriptor its records go to, where the tracer
    package is, and no Python paths of the tracer's own interpreter."""
    env = dict(os.environ)
    env["TRACER_AGENT_FD"] = str(records_fd)
    env["TRACER_PACKAGE_ROOT"] = str(Path(tracer.__file__).resolve().parent.parent)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    return env


def find_gdb() -> str:
    path = shutil.which("gdb")
    if path is None:
        raise ToolMissing("gdb not found; install it with: apt-get install gdb")
    return path


def parse_hit(line: bytes) -> AgentRecord:
    """One agent line (kept under its old name: `records.parse_record`)."""
    return parse_record(line)


class Gdb:
    """One gdb process driven over MI, with the tracer's agent loaded."""

    def __init__(
        self, kernel_elf: Path, gdb_path: str | None = None, *, trust_readonly: bool = True
    ) -> None:
        self.kernel_elf = kernel_elf
        # Off when gdb's file is not what runs at its addresses (a slid kernel, or a Linux
        # /init standing in for a kernel ELF): gdb would answer reads there from the file.
        self.trust_readonly = trust_readonly
        self._gdb = gdb_path or find_gdb()
        self._read_fd, self._write_fd = os.pipe()
        self._mi: MiChannel | None = None
        self._registers: dict[str, int] | None = None

    @property
    def mi(self) -> MiChannel:
        if self._mi is None:
            raise GdbDied("gdb was not started")
        return self._mi

    @property
    def pid(self) -> int | None:
        return self._mi.pid if self._mi else None

    @property
    def hits_fd(self) -> int:
        return self._read_fd

    def start(self) -> None:
        env = agent_env(self._write_fd)
        argv = [self._gdb, "--interpreter=mi3", "-nx", "-q", "--nh"]
        self._mi = MiChannel(argv, pass_fds=[self._write_fd], env=env, preexec_fn=die_with_parent)
        # Only gdb keeps the write end: when gdb dies, the reader sees EOF.
        os.close(self._write_fd)
        self._write_fd = -1
        self.mi.command("-gdb-version", timeout=20)
        for setting in FAST_SETTINGS:
            self.mi.command(f"-interpreter-exec console {mi_quote(setting)}")
        if not self.trust_readonly:
            self.mi.command("-gdb-set trust-readonly-sections off")
        self.mi.command("-gdb-set mi-async on")
        self.mi.command(f"-file-exec-and-symbols {mi_quote(str(self.kernel_elf))}", timeout=60)

    def add_symbols(self, path: Path) -> None:
        self.mi.console(f"add-symbol-file {cli_quote(str(path))}", timeout=60)

    def connect(self, socket: Path) -> None:
        # gdb's `target remote` takes the rest of the line as the path, quotes and all.
        if any(ch.isspace() for ch in str(socket)):
            raise GdbError(f"gdb cannot connect to a socket path with spaces: {socket}")
        self.mi.command(f"-target-select remote {socket}", timeout=20)
        for setting in CONNECTED_SETTINGS:
            self.mi.command(f"-interpreter-exec console {mi_quote(setting)}")

    def load_agent(self, plan: dict[str, Any], scratch: Path) -> str:
        """Load the agent into gdb and arm the plan's probes (handed over as a file)."""
        agent_dir = str(AGENT_SCRIPT.parent)
        self.mi.console(
            f"python import sys; sys.path.insert(0, {agent_dir!r}); import tracer_agent"
        )
        plan_file = scratch / "plan.json"
        plan_file.write_text(json.dumps(plan))
        return self.python(f"tracer_agent.install_file({str(plan_file)!r})")

    def python(self, statement: str, timeout: float = 30.0) -> str:
        """Run one Python statement in gdb; `tracer_agent` names the agent module."""
        return self.mi.console(f"python {statement}", timeout=timeout)

    def arm(self, probes: Sequence[dict[str, Any]], scratch: Path) -> str:
        probes_file = scratch / "probes.json"
        probes_file.write_text(json.dumps(list(probes)))
        return self.python(f"tracer_agent.arm_file({str(probes_file)!r})")

    def flush_agent(self) -> None:
        self.python("tracer_agent.flush()")

    def agent_stats(self) -> dict[str, int]:
        """The agent's counters: probes handled, records written to the pipe, duplicates."""
        text = self.python("tracer_agent.stats()", timeout=10)
        stats: dict[str, int] = {}
        for line in text.splitlines():
            if line.startswith("agent-stats "):
                for word in line.split()[1:]:
                    key, _, value = word.partition("=")
                    if value.isdigit():
                        stats[key] = int(value)
        return stats

    def insert_breakpoint(self, addr: int) -> str:
        result = self.mi.command(f"-break-insert *{addr:#x}")
        bkpt = result.get("bkpt") or {}
        return str(bkpt.get("number", "")) if isinstance(bkpt, dict) else ""

    def delete_breakpoints(self, numbers: Sequence[str]) -> None:
        wanted = [n for n in numbers if n]
        if wanted:
            self.mi.command(f"-break-delete {' '.join(wanted)}")

    def cont(self) -> None:
        self.mi.command("-exec-continue")

    def interrupt(self) -> None:
        self.mi.command("-exec-interrupt")

    def step_instruction(self, timeout: float = 10.0) -> StopEvent:
        self.mi.command("-exec-step-instruction")
        return self.wait_stopped(timeout)

    def threads(self) -> list[int]:
        """gdb's thread numbers, one per vCPU (QEMU's vCPU n is thread n + 1)."""
        ids = self.mi.command("-thread-list-ids").get("thread-ids") or {}
        found = ids.get("thread-id", []) if isinstance(ids, dict) else ids
        numbers = [found] if isinstance(found, str) else list(found)
        return sorted(int(number) for number in numbers)

    def selected_thread(self) -> int:
        """gdb's current thread: after a stop, the one that stopped (1 when gdb does not say)."""
        current = self.mi.command("-thread-info").get("current-thread-id")
        return int(current) if isinstance(current, str) and current.isdigit() else 1

    def select_thread(self, thread: int) -> None:
        self.mi.command(f"-thread-select {thread}")

    def thread_registers(self, thread: int, names: Sequence[str]) -> dict[str, int]:
        """Registers of one vCPU (the target stopped), without changing the selected one."""
        numbers = self._register_numbers()
        wanted = [numbers[name] for name in names if name in numbers]
        result = self.mi.command(
            f"-data-list-register-values --thread {thread} x {' '.join(map(str, wanted))}"
        )
        by_number = {
            int(v.get("number", -1)): v.get("value", "")
            for v in result.get("register-values") or []
        }
        values = {}
        for name in names:
            text = str(by_number.get(numbers.get(name, -1), ""))
            try:
                values[name] = int(text, 16) & ((1 << 64) - 1)
            except ValueError:
                continue  # a register this target does not have
        return values

    def wait_stopped(self, timeout: float) -> StopEvent:
        """Wait for the next *stopped (or for gdb to report the target gone)."""
        deadline_left = timeout
        while True:
            try:
                record = self.mi.events.get(timeout=min(0.5, deadline_left))
            except queue.Empty:
                deadline_left -= 0.5
                if not self.mi.alive:
                    raise GdbDied("gdb exited") from None
                if deadline_left <= 0:
                    raise TargetTimeout(f"the guest did not stop within {timeout:g} s") from None
                continue
            stop = to_stop_event(record)
            if stop is not None:
                return stop

    def async_records(self) -> Iterator[MiRecord]:
        while True:
            try:
                yield self.mi.events.get_nowait()
            except queue.Empty:
                return

    def read_register(self, name: str) -> int:
        number = self._register_numbers().get(name)
        if number is None:
            raise GdbError(f"the target has no register {name}")
        result = self.mi.command(f"-data-list-register-values x {number}")
        values = result.get("register-values") or [{}]
        text = str(values[0].get("value", ""))
        try:
            return int(text, 16) & ((1 << 64) - 1)
        except ValueError:
            raise GdbError(f"unexpected value for ${name}: {text!r}") from None

    def _register_numbers(self) -> dict[str, int]:
        if self._registers is None:
            names = self.mi.command("-data-list-register-names").get("register-names", [])
            self._registers = {n: i for i, n in enumerate(names) if n}
        return self._registers

    def write_register(self, name: str, value: int) -> None:
        self.mi.command(f"-data-evaluate-expression {mi_quote(f'${name}={value:#x}')}")

    def read_memory(self, addr: int, length: int) -> bytes:
        result = self.mi.command(f"-data-read-memory-bytes {addr:#x} {length}")
        blocks = result.get("memory", [])
        if not blocks:
            raise GdbError(f"cannot read {length} bytes at {addr:#x}")
        return bytes.fromhex(blocks[0]["contents"])

    def read_code(self, addr: int, length: int) -> bytes:
        """Guest memory even where the file has a read-only section (trust-readonly-sections
        off for this one read)."""
        if not self.trust_readonly:
            return self.read_memory(addr, length)
        self.mi.command("-gdb-set trust-readonly-sections off")
        try:
            return self.read_memory(addr, length)
        finally:
            self.mi.command("-gdb-set trust-readonly-sections on")

    def write_memory(self, addr: int, data: bytes) -> None:
        self.mi.command(f"-data-write-memory-bytes {addr:#x} {data.hex()}")

    def close(self) -> None:
        if self._mi is not None:
            self._mi.close()
        for fd in (self._write_fd,):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._write_fd = -1

    def close_hits(self) -> None:
        if self._read_fd >= 0:
            try:
                os.close(self._read_fd)
            except OSError:
                pass
            self._read_fd = -1


def cli_quote(text: str) -> str:
    """Quote one argument for gdb's CLI argument splitter (double quotes, backslash escapes)."""
    if "\n" in text or "\r" in text:
        raise GdbError(f"a path with a line break cannot be handed to gdb: {text!r}")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def to_stop_event(record: MiRecord) -> StopEvent | None:
    if record.kind != "notify":
        return None
    payload = record.payload if isinstance(record.payload, dict) else {}
    if record.message == "stopped":
        frame = payload.get("frame")
        addr = frame.get("addr") if isinstance(frame, dict) else None
        pc = _hex_or_none(addr)
        reason = str(payload.get("reason", "signal-received" if "signal-name" in payload else ""))
        return StopEvent(reason or "stopped", pc, str(payload.get("signal-name", "")))
    if record.message == "thread-group-exited":
        return StopEvent("exited", None, str(payload.get("exit-code", "")))
    return None


def _hex_or_none(text: object) -> int | None:
    if not isinstance(text, str) or not text.startswith("0x"):
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None


def read_hits(fd: int, on_hit: Callable[[AgentRecord], None]) -> None:
    """Read agent lines from the pipe until EOF; for a reader thread."""
    with os.fdopen(fd, "rb", buffering=1 << 16, closefd=False) as stream:
        for line in stream:
            if line.strip():
                try:
                    on_hit(parse_hit(line))
                except (ValueError, KeyError, TypeError) as exc:
                    on_hit(AgentError("", f"bad agent record: {exc}"))


__all__ = ["Gdb", "ProbeHit", "StopEvent", "TargetError", "read_hits", "to_stop_event"]
