"""QEMU behind an object with a lifecycle: launched halted, gdbstub on a private unix socket."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from tracer.target.errors import QemuDied, TargetTimeout, ToolMissing
from tracer.target.sched import short_slice

QEMU_BINARY = "qemu-system-x86_64"


def die_with_parent() -> None:
    """preexec_fn of every QEMU and gdb: the child gets SIGKILL if the tracer dies, so nothing
    outlives it, and asks for a short time slice (`sched.short_slice`)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    short_slice()


@dataclass(frozen=True)
class Module:
    """A multiboot module: a program path and its arguments."""

    path: Path
    args: tuple[str, ...] = ()

    def initrd_spec(self) -> str:
        # QEMU splits -initrd on commas; ",," is a literal comma.
        words = [str(self.path.resolve()), *self.args]
        return " ".join(words).replace(",", ",,")


@dataclass(frozen=True)
class QemuConfig:
    boot_image: Path
    modules: tuple[Module, ...] = ()
    cmdline: str = ""
    memory_mb: int = 256
    cpu: str = "max"
    accel: str = "tcg"
    icount: str | None = None
    debug_exit: bool = True
    debugcon: Path | None = None  # where the guest's debug-port output goes (tests only)
    extra_args: tuple[str, ...] = ()
    smp: int = 1  # vCPUs (-smp N)
    # The guest's RAM kept in this file (shared: it sees every write, whatever ends QEMU), for
    # tests that read what a guest left in memory (the built-in guest's gtlog=mem log).
    ram_file: Path | None = None


class QemuState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    EXITED = "exited"
    CLOSED = "closed"


@dataclass
class QemuFiles:
    """Where a machine's socket and output live: a private 0700 directory."""

    directory: Path
    gdb_socket: Path = field(init=False)
    serial_log: Path = field(init=False)
    debugcon_log: Path = field(init=False)
    stderr_log: Path = field(init=False)
    qemu_log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.gdb_socket = self.directory / "gdb.sock"
        self.serial_log = self.directory / "serial.log"
        self.debugcon_log = self.directory / "debugcon.log"
        self.stderr_log = self.directory / "qemu.stderr"
        self.qemu_log = self.directory / "qemu.log"


def find_qemu() -> str:
    path = shutil.which(QEMU_BINARY)
    if path is None:
        raise ToolMissing(
            f"{QEMU_BINARY} not found; install it with: apt-get install qemu-system-x86"
        )
    return path


def option_value(path: Path) -> str:
    """A path inside a QEMU `key=value,...` option: a literal comma is written twice."""
    return str(path).replace(",", ",,")


def build_argv(config: QemuConfig, files: QemuFiles, qemu: str = QEMU_BINARY) -> list[str]:
    """The QEMU command line: halted (-S), gdbstub on a unix socket only, never TCP.

    `-d cpu_reset` logs "Triple fault" to a private file: with -no-reboot a triple fault ends
    QEMU with status 0, like a clean power-off, and the log is how the two are told apart.
    """
    argv = [
        qemu,
        "-nodefaults",
        "-nographic",
        "-monitor",
        "none",
        "-no-reboot",
        "-S",
        "-m",
        str(config.memory_mb),
        "-cpu",
        config.cpu,
        "-accel",
        config.accel,
        "-kernel",
        str(config.boot_image),
        "-chardev",
        f"socket,id=gdb0,path={option_value(files.gdb_socket)},server=on,wait=off",
        "-gdb",
        "chardev:gdb0",
        "-serial",
        f"file:{files.serial_log}",
        "-debugcon",
        f"file:{config.debugcon or files.debugcon_log}",
        "-d",
        "cpu_reset",
        "-D",
        str(files.qemu_log),
    ]
    if config.cmdline:
        argv += ["-append", config.cmdline]
    if config.modules:
        argv += ["-initrd", ",".join(m.initrd_spec() for m in config.modules)]
    if config.icount:
        argv += ["-icount", config.icount]
    if config.smp != 1:
        argv += ["-smp", str(config.smp)]
    if config.debug_exit:
        argv += ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if config.ram_file is not None:
        backend = f"size={config.memory_mb}M,mem-path={option_value(config.ram_file)},share=on"
        argv += ["-object", f"memory-backend-file,id=guest-ram,{backend}"]
        argv += ["-machine", "memory-backend=guest-ram"]
    argv += list(config.extra_args)
    return argv


class QemuMachine:
    """One QEMU process. Use as a context manager; leaving it always ends QEMU."""

    def __init__(self, config: QemuConfig, workdir: Path | None = None) -> None:
        self.config = config
        self.state = QemuState.NEW
        self._own_dir = workdir is None
        directory = Path(tempfile.mkdtemp(prefix="tracer-")) if workdir is None else workdir
        os.chmod(directory, 0o700)
        self.files = QemuFiles(directory)
        self._proc: subprocess.Popen[bytes] | None = None
        self.ended_by_close = False  # True when close() had to end it (not a crash or kill)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def start(self, timeout: float = 10.0) -> None:
        qemu = find_qemu()
        argv = build_argv(self.config, self.files, qemu)
        stderr = open(self.files.stderr_log, "wb")  # noqa: SIM115 - handed to the child
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                preexec_fn=die_with_parent,
                start_new_session=True,
            )
        finally:
            stderr.close()
        self.state = QemuState.RUNNING
        self._wait_for_socket(timeout)

    def _wait_for_socket(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.files.gdb_socket.exists():
            if self.returncode is not None:
                self.state = QemuState.EXITED
                raise QemuDied(f"QEMU exited at start: {self.stderr_tail()}")
            if time.monotonic() > deadline:
                raise TargetTimeout(f"QEMU's gdbstub socket did not appear within {timeout:g} s")
            time.sleep(0.005)

    def stderr_tail(self, lines: int = 3) -> str:
        try:
            text = self.files.stderr_log.read_text(errors="replace").strip()
        except OSError:
            return "(no output)"
        return " | ".join(text.splitlines()[-lines:]) or "(no output)"

    def triple_faulted(self) -> bool:
        """Did the guest triple-fault (QEMU logged it before resetting or exiting)?"""
        try:
            with open(self.files.qemu_log, "rb") as log:
                return any(b"Triple fault" in line for line in log)
        except OSError:
            return False

    def serial_output(self) -> str:
        try:
            return self.files.serial_log.read_text(errors="replace")
        except OSError:
            return ""

    def wait(self, timeout: float | None = None) -> int | None:
        if self._proc is None:
            return None
        try:
            code = self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.state = QemuState.EXITED
        return code

    def close(self) -> None:
        """End QEMU (terminate, then kill) and remove the private directory. Never raises."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self.ended_by_close = True
            proc.terminate()
            try:
                proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.state = QemuState.CLOSED

    def remove_files(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.files.directory, ignore_errors=True)

    def __enter__(self) -> QemuMachine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        self.remove_files()


def guest_exit_status(qemu_returncode: int | None) -> int | None:
    """isa-debug-exit makes QEMU exit with (value << 1) | 1; recover the guest's value."""
    if qemu_returncode is None or qemu_returncode <= 0 or qemu_returncode % 2 == 0:
        return None
    return qemu_returncode >> 1
