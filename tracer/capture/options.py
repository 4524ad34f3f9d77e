"""What a capture is asked to do, and what it gives back."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tracer.events import Event
from tracer.probes.plan import ALL_PROBES, Mode, ProbePlan
from tracer.target.qemu import Module, QemuConfig

if TYPE_CHECKING:
    from tracer.capture.control import CaptureControl


@dataclass(frozen=True)
class Program:
    path: Path
    args: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class CaptureOptions:
    kernel: Path
    boot_image: Path
    programs: Sequence[Program]
    output: Path
    cmdline: str = ""
    probes: frozenset[str] = ALL_PROBES
    mode: Mode = Mode.DEFAULT
    until: str = "exit"
    max_events: int | None = None
    timeout: float | None = 300.0
    idle_timeout: float | None = 60.0
    icount: str | None = None
    read_msrs: bool = True
    memory_mb: int = 256
    overwrite: bool = True
    debugcon: Path | None = None
    ram_file: Path | None = None  # the guest's RAM kept in this file (tests: QemuConfig.ram_file)
    meta: dict[str, str] = field(default_factory=dict)
    until_event: Callable[[Event], bool] | None = None  # end at the first event it accepts
    start_timeout: float = 10.0  # for QEMU's gdbstub socket to appear
    graph: tuple[str, ...] = ()  # function patterns for a breakpoint-mode function graph
    graph_large: bool = False
    ftrace: bool = False  # the guest's own function-graph ring buffer, when it has one
    ftrace_functions: tuple[str, ...] = ()  # set_graph_function patterns
    ftrace_notrace: tuple[str, ...] = ()  # set_graph_notrace patterns
    ftrace_max_depth: int = 0  # max_graph_depth; 0 is unlimited
    accel: str = "tcg"  # kvm only when asked for (and usable)
    measure_read: bool = False  # benchmark: time a bare gdb read_memory loop at the arm stop
    control: CaptureControl | None = None  # pause, resume and step from another thread
    symbols: Path | None = None  # a Linux kernel's vmlinux, System.map or kallsyms dump
    initrd: Path | None = None  # your own initramfs for a Linux kernel (else the tracer's)
    cpu: str = "max"  # QEMU's CPU model (Skylake-Client: an Intel model, PTI on)
    smp: int = 1  # vCPUs (each a gdb thread; events carry the CPU they happened on)
    from_boot: bool = False  # Linux: arm the probes once LSTAR is set, not at /init's 1st syscall
    vdso: bool = False  # vDSO calls as user-side events (a probe on each vDSO function)
    watch: bool = True  # syscalls by watchpoints where the kernel allows (`syscall_watch`)

    def __post_init__(self) -> None:
        # Paths are what a caller's strings become, whatever came in.
        self.kernel, self.boot_image, self.output = (
            Path(self.kernel),
            Path(self.boot_image),
            Path(self.output),
        )
        self.symbols = Path(self.symbols) if self.symbols is not None else None
        self.initrd = Path(self.initrd) if self.initrd is not None else None

    def qemu_config(self) -> QemuConfig:
        modules = tuple(Module(p.path, p.args) for p in self.programs)
        return QemuConfig(
            boot_image=self.boot_image,
            modules=modules,
            cmdline=self.cmdline,
            memory_mb=self.memory_mb,
            icount=self.icount,
            debugcon=self.debugcon,
            ram_file=self.ram_file,
            accel=self.accel,
            cpu=self.cpu,
            smp=self.smp,
        )


@dataclass
class CaptureStats:
    events: int = 0
    syscalls: int = 0
    hits: int = 0
    records: int = 0  # lines received from the agent's pipe (hits and agent errors)
    held: int = 0  # records received, their events not built yet (`CaptureLoop.hold_limit`)
    agent_written: int | None = None  # lines the agent says it wrote (None: not known)
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    # Seconds from the start to the end of each phase: plan (ELFs read, probes planned),
    # qemu (QEMU up, gdb attached), agent (probes armed), first_user (the first user process
    # seen), run (the loop ended), finish (gdb and QEMU ended, the queue drained), write (the
    # trace file closed).
    phases: dict[str, float] = field(default_factory=dict)
    armed: str = ""  # where the probes were armed, when not from the start (a Linux boot)

    def mark(self, phase: str, at: float | None = None) -> None:
        """The phase ended now, or at `at` (time.monotonic()), never before the one marked
        before it (the phases run one after the other)."""
        when = round((time.monotonic() if at is None else at) - self.started, 3)
        self.phases.setdefault(phase, max(when, *self.phases.values(), 0.0))

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def lost(self) -> int | None:
        """Agent records written but never received (None when the agent could not say)."""
        if self.agent_written is None:
            return None
        return max(0, self.agent_written - self.records)


@dataclass(frozen=True)
class ProgramExit:
    """One program the guest ran, as the trace saw it: `status` None if it never exited
    (killed by the kernel, or still running when the capture ended)."""

    path: Path
    pid: int | None
    status: int | None

    def to_json(self) -> dict[str, object]:
        return {"path": str(self.path), "pid": self.pid, "status": self.status}


# Ends that are failures of the guest though the capture itself worked.
ABNORMAL_ENDS = {
    "hang": "the guest hung (no syscall or other progress within the idle timeout)",
    "timeout": "the capture timed out",
    "triple-fault": "the guest triple-faulted (CPU reset)",
}


@dataclass
class CaptureResult:
    output: Path
    reason: str
    stats: CaptureStats
    qemu_returncode: int | None
    guest_status: int | None
    console: str
    msr_values: dict[int, int]
    plan: ProbePlan
    error: str | None = None
    triple_fault: bool = False
    programs: tuple[ProgramExit, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def program_status(self) -> int | None:
        """The first non-zero program status (0 when all exited 0), as a shell would use it."""
        statuses = [p.status for p in self.programs if p.status is not None]
        return next((s for s in statuses if s), 0 if statuses else None)

    def failure(self) -> str | None:
        """One line saying what went wrong (the tool or the guest), or None if nothing did.

        A program's own exit status is data, as strace treats it: only a guest that ended
        before every program had started (a kernel panic, a failed load) is a failure.
        """
        tail = console_tail(self.console)
        where = f"; guest console: {tail}" if tail else ""
        if self.error:
            return f"{self.error}{where}"
        problem = ABNORMAL_ENDS.get(self.reason)
        if problem is not None:
            return f"{problem}{where}"
        if self.reason == "guest-exit" and self.guest_status not in (0, None):
            missing = [p.path.name for p in self.programs if p.pid is None]
            if missing:
                return (
                    f"the guest exited with status {self.guest_status} before "
                    f"{', '.join(missing)} ran{where}"
                )
        return None


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1bc")
# Firmware words before the kernel's first: they say nothing about the guest (the kernel's
# output may follow them on the same line: "Booting from ROM..hello").
_FIRMWARE = re.compile(
    r"SeaBIOS \(version [^)]*\)|iPXE \([^)]*\)[^\n]*|Booting from [A-Za-z ]+\.*|"
    r"Machine UUID [0-9a-f-]+|Press \S+ for boot menu\.?"
)


def icount_refusal(icount: str | None, cpus: int) -> str | None:
    """Why QEMU's -icount `icount` cannot work under a debugger on `cpus` vCPUs, or None.

    With one vCPU and sleep=off QEMU counts the vCPU stopped at a breakpoint as idle and moves
    guest time to the next timer deadline at every stop: an interrupt's own entry and iretq
    stops bring the next tick before the first user instruction, so the guest never runs.
    """
    if icount is None or cpus > 1 or "sleep=off" not in icount.replace(" ", ""):
        return None
    return (
        "--icount sleep=off with one vCPU: QEMU counts a vCPU stopped at a breakpoint as idle "
        "and moves guest time to the next timer tick at every stop, so the guest only takes "
        "interrupts; use --icount shift=0 (sleep on) or --smp 2 or more"
    )


def console_tail(console: str, lines: int = 3) -> str:
    """The last lines of the guest console, control characters and firmware noise dropped,
    joined on one line."""
    kept = []
    for line in console.splitlines():
        text = "".join(ch for ch in _ANSI.sub("", line) if ch.isprintable())
        text = _FIRMWARE.sub("", text).strip()
        if text:
            kept.append(text)
    return " | ".join(kept[-lines:])


def program_exits(
    programs: Sequence[Program], started: Sequence[tuple[int, str]], statuses: dict[int, int]
) -> tuple[ProgramExit, ...]:
    """Match the programs asked for with the processes the trace saw start, in order."""
    unclaimed = list(started)
    out = []
    for program in programs:
        match = next((item for item in unclaimed if item[1] == program.name), None)
        if match is None:
            out.append(ProgramExit(program.path, None, None))
            continue
        unclaimed.remove(match)
        out.append(ProgramExit(program.path, match[0], statuses.get(match[0])))
    return tuple(out)


def ring_available(kernel: Path) -> bool:
    """Whether the kernel has the function-graph ring buffer (symbols and DWARF layouts)."""
    from tracer.image import ElfImage, ImageError
    from tracer.probes.ringbuf import find_ring

    try:
        return find_ring(ElfImage.open(kernel)) is not None
    except ImageError:
        return False


def ftrace_by_default(requested: bool | None, kernel: Path, graph: bool = False) -> bool:
    """--ftrace / --no-ftrace as given; unsaid, on where the kernel has the ring (the graph
    costs little there) unless breakpoints already draw the graph (--graph)."""
    if requested is not None:
        return requested
    return not graph and ring_available(kernel)
