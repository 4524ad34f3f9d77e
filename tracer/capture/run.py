"""One capture from start to end: the plan, the target, the loop, the trace file's last words."""

from __future__ import annotations

import contextlib
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

from tracer.capture.control import StopRequest, interruption, signals_stop
from tracer.capture.kaslr import read_lstar_when_set
from tracer.capture.linux import (
    LinuxBoot,
    LinuxTarget,
    is_linux_boot,
    kernel_slide,
    open_linux,
    qemu_config,
    task_layout,
)
from tracer.capture.loop import CaptureLoop, signal_name
from tracer.capture.options import CaptureOptions, CaptureResult, CaptureStats, program_exits
from tracer.decode.msr import msr_name
from tracer.events import Event
from tracer.image import ElfImage
from tracer.linux.first_syscall import enter_first_syscall
from tracer.probes.funcgraph import graph_functions
from tracer.probes.plan import (
    AgentProbe,
    PlanError,
    ProbePlan,
    add_graph_probes,
    add_ring_probe,
    build_plan,
)
from tracer.probes.ringbuf import find_ring
from tracer.store import TraceWriter
from tracer.target.errors import GdbDied, QemuDied, TargetError, Terminated
from tracer.target.protocol import SessionEnd, Target
from tracer.target.session import TargetSession, signals_deferred

CONSOLE_KEPT = 256 * 1024  # the guest console's tail, kept in the trace's meta

Enter = Callable[[CaptureLoop, Target], Target]
"""What runs between the target's start and the agent's arming (a Linux boot up to /init's
first syscall); returns the target the loop then drives."""

TargetFactory = Callable[[CaptureOptions], Target]
"""Makes the target a capture runs on (not yet opened); the real one boots QEMU under gdb."""


def qemu_target(options: CaptureOptions) -> Target:
    return TargetSession(
        options.kernel,
        options.qemu_config(),
        tuple(p.path for p in options.programs),
        start_timeout=options.start_timeout,
    )


def linux_target(options: CaptureOptions, linux: LinuxBoot, scratch: Path) -> Target:
    gdb_file = linux.kernel.gdb_file or linux.init
    return TargetSession(gdb_file, qemu_config(options, linux, scratch),
                         start_timeout=options.start_timeout,
                         trust_readonly=linux.file_is_running_image)  # fmt: skip


def adapt_plan(plan: ProbePlan, linux: LinuxBoot, probes: frozenset[str]) -> None:
    """What the stripped ELF cannot say about tasks, the layout cached from DWARF can. Without
    interrupt probes, Linux's interrupt paths would cost stops per timer tick for nothing the
    trace keeps: their swapgs, and the iretq every interrupt returns through (to kernel mode
    too). Syscalls keep their exits, taken where the dispatcher returns: also those that leave
    by iret (execve, rt_sigreturn, a signal's delivery)."""
    if "irq" not in probes:
        plan.probes = [p for p in plan.probes if p.kind != "swapgs" and not _iret_exit(p)]
        if not plan.return_exits:
            plan.notes.append(
                "Linux without interrupt probes: syscalls that return by iretq (execve, "
                "rt_sigreturn) show no exit; --probes syscall,msr,segbase,irq traces them"
            )
    layout = task_layout(linux.kernel)
    if plan.task_layout is None and layout is not None:
        plan.task_layout = layout
        plan.probes = [
            replace(p, extra=(*p.extra, ("task_span", layout.span)))
            if p.kind == "context_switch"
            else p
            for p in plan.probes
        ]


def _iret_exit(probe: AgentProbe) -> bool:
    return probe.kind == "syscall_exit" and ("exit_kind", "iretq") in probe.extra


def enter_linux(linux: LinuxBoot, loop: CaptureLoop, target: Target) -> Target:
    """Boot with no probe armed up to /init's first syscall (or, `--from-boot`, only until
    the kernel has set LSTAR); place the kernel there (the KASLR slide: LSTAR minus
    entry_SYSCALL_64), snapshot the MSRs, and hand back a target at link addresses."""
    booted = time.monotonic()
    timeout = loop.options.timeout or 300.0
    if loop.options.from_boot:
        lstar = read_lstar_when_set(target, timeout)
        where, why = "from the boot", "once the kernel had set LSTAR"
    else:
        lstar = enter_first_syscall(target, ElfImage.open(linux.init), timeout)
        where = "at /init's first syscall"
        why = "none during the boot: QEMU slows down with every breakpoint it checks"
    slide = kernel_slide(linux.image, lstar)
    loop.writer.set_meta("kaslr_slide", hex(slide.offset))
    seconds = time.monotonic() - booted
    loop.stats.armed = f"{where}, {seconds:.1f} s in"
    loop.writer.set_meta("armed", loop.stats.armed)
    loop.note(f"{slide}: probes armed {where}, {seconds:.1f} s into the boot ({why})")
    if loop.arming.want_msrs:
        loop.arming.want_msrs = False
        pc = target.read_register("rip")
        loop.arming.snapshot_msrs(target, slide.unrelocate(pc), armed=False)
    return LinuxTarget(target, slide)


def plan_capture(options: CaptureOptions, image: ElfImage) -> ProbePlan:
    """Every probe to arm for these options on this kernel (PlanError if it cannot)."""
    programs = tuple(ElfImage.open(p.path, require_symbols=False) for p in options.programs)
    # Watchpoints save TCG's re-translation after each breakpoint stop; under KVM there is
    # none to save, and its four debug registers would not hold a watched frame per thread.
    watch = options.watch and options.smp == 1 and options.accel == "tcg"
    plan = build_plan(image, options.mode, options.probes, programs=programs, watch=watch)
    if options.ftrace:
        ring = find_ring(image)
        if ring is None:
            raise PlanError(
                f"{options.kernel}: no function-graph ring buffer (ftrace_rings, "
                "struct ftrace_ring in DWARF); use --graph FUNCS for breakpoints"
            )
        add_ring_probe(plan, ring)
    if options.graph:
        notrace = (
            graph_functions(image, list(options.ftrace_notrace), True)
            if options.ftrace_notrace and not options.ftrace
            else []
        )
        functions = graph_functions(image, list(options.graph), options.graph_large)
        add_graph_probes(plan, functions, notrace)
        plan.notes.append(
            "function graph by breakpoints: durations are not guest time "
            "(the tracer cannot read the guest's clock at a stop)"
        )
    plan.vdso = options.vdso
    return plan


def capture(
    options: CaptureOptions,
    on_event: Callable[[Event], None] | None = None,
    progress: Callable[[CaptureStats], None] | None = None,
    *,
    stop: StopRequest | None = None,
    on_start: Callable[[Target], None] | None = None,
    target_factory: TargetFactory = qemu_target,
) -> CaptureResult:
    """Run one capture to its end; the trace file holds every event seen, whatever happens.

    Tool failures (gdb or QEMU dying, Ctrl-C, SIGTERM) end in `result.error` and a Gap as the
    last event. Ctrl-C and SIGTERM are then raised as CaptureInterrupted/CaptureTerminated
    (KeyboardInterrupt), carrying the result, once the trace is complete and QEMU and gdb are
    gone; `stop` ends it early from another thread; `on_start` sees the live target
    (QEMU and gdb pids, the private directory) once both processes are up.
    """
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tracer-boot-") as scratch:
        linux = open_linux(options, None) if is_linux_boot(options.kernel) else None
        image = linux.image if linux is not None else ElfImage.open(options.kernel)
        plan = plan_capture(options, image)
        enter: Enter | None = None
        if linux is not None:
            adapt_plan(plan, linux, options.probes)
            enter = partial(enter_linux, linux)
            if target_factory is qemu_target:
                target_factory = partial(linux_target, linux=linux, scratch=Path(scratch))
        # Readers (report, check, the TUI's entry path) want an ELF with code and symbols: a
        # vmlinux's stripped copy, or a bzImage's extracted ELF with its System.map or kallsyms
        # dump named beside it (meta 'symbols').
        kernel_elf = image.path if linux is not None else options.kernel
        if linux is not None and linux.symbols_file is not None:
            options = replace(
                options, meta={**options.meta, "symbols": str(linux.symbols_file.resolve())}
            )
        return _capture(options, image, plan, started, on_event, progress, stop, on_start,
                        target_factory, enter, kernel_elf)  # fmt: skip


def _capture(
    options: CaptureOptions,
    image: ElfImage,
    plan: ProbePlan,
    started: float,
    on_event: Callable[[Event], None] | None,
    progress: Callable[[CaptureStats], None] | None,
    stop: StopRequest | None,
    on_start: Callable[[Target], None] | None,
    target_factory: TargetFactory,
    enter: Enter | None,
    kernel_elf: Path,
) -> CaptureResult:
    meta = {
        "kernel": str(Path(kernel_elf).resolve()),
        "boot_image": str(options.kernel.resolve()),
        "programs": " ".join(str(p.path) for p in options.programs),
        "cmdline": options.cmdline,
        "mode": options.mode.value,
        **_watch_meta(plan, options.smp),
        **options.meta,
    }
    with TraceWriter(options.output, meta=meta, overwrite=options.overwrite) as writer:
        first = ("init",) if enter is not None else ()
        loop = CaptureLoop(options, image, plan, writer, on_event, progress, stop, first)
        loop.stats.started = started  # the split counts the ELF reading and planning too
        loop.stats.mark("plan")
        for text in plan.notes:
            loop.note(text)
        received: list[int] = []
        end = _drive(loop, options, target_factory, on_start, enter, received)
        _write_end(loop, writer, end)
    loop.stats.mark("write")
    result = CaptureResult(
        output=options.output,
        reason=loop.done_reason or "unknown",
        stats=loop.stats,
        qemu_returncode=end.qemu_returncode if end is not None else None,
        guest_status=loop.guest_status,
        console=end.console if end is not None else "",
        msr_values=loop.arming.msr_values,
        plan=plan,
        error=loop.error,
        triple_fault=loop.done_reason == "triple-fault",
        programs=program_exits(options.programs, loop.started, loop.exit_statuses),
    )
    if loop.stop.signum is not None:
        received.insert(0, loop.stop.signum)
    if received:  # the caller asked to stop too, not only this capture: tell it, now it is safe
        raise interruption(received[0], result)
    return result


def _drive(
    loop: CaptureLoop,
    options: CaptureOptions,
    target_factory: TargetFactory,
    on_start: Callable[[Target], None] | None,
    enter: Enter | None = None,
    received: list[int] | None = None,
) -> SessionEnd | None:
    """Open the target, run the loop, and end the target whatever happens. Signals that cut
    it short or arrived during the cleanup go to `received`."""
    received = [] if received is None else received
    target: Target | None = None
    end: SessionEnd | None = None
    try:
        target = target_factory(options)
        with target:
            loop.stats.mark("qemu")
            if on_start is not None:
                on_start(target)
            if enter is not None:
                target = enter(loop, target)
            first_stop = loop.arming.wants_first_syscall_stop
            target.load_agent(loop.plan.agent_plan(stop_first_syscall=first_stop, cpus=options.smp))
            loop.stats.mark("agent")
            with signals_stop(loop.stop):
                loop.run(target)
            # From here on a Ctrl-C waits: one landing while the last records become events
            # would leave holes in the trace's sequence.
            with signals_deferred(received):
                loop.stats.mark("run")
                if loop.done_reason in ("interrupted", "terminated"):
                    loop.fail(loop.done_reason, loop.done_reason)
                end = loop.finish(target)
    except TargetError as exc:
        loop.fail(_root_cause(target, exc), "error")
    except Terminated:
        received.append(signal.SIGTERM)
        loop.fail("terminated", "terminated")
    except KeyboardInterrupt:
        received.append(signal.SIGINT)
        loop.fail("interrupted", "interrupted")
    except Exception as exc:  # a bug: the trace says so before the caller reports it
        loop.fail(f"internal error: {type(exc).__name__}: {exc}", "error")
        raise
    finally:
        with signals_deferred(received):
            if target is not None:
                with contextlib.suppress(Exception):
                    end = loop.finish(target)
            loop.stats.ended = time.monotonic()
            loop.conclude(end)
    return end


def _watch_meta(plan: ProbePlan, cpus: int) -> dict[str, str]:
    """Where the syscalls are taken when by watchpoints (`syscall_watch`), for the entry-path
    view: the dispatcher call and the stop after each way out's first pop."""
    if plan.watch is None or not plan.watches(cpus):
        return {}
    pops = " ".join(f"{pc:#x}" for pc in plan.watch.exit_pops)
    return {"watch_call": f"{plan.watch.call:#x}", "watch_exits": pops}


def _write_end(loop: CaptureLoop, writer: TraceWriter, end: SessionEnd | None) -> None:
    writer.set_meta("end_reason", loop.done_reason or "unknown")
    for msr, value in loop.arming.msr_values.items():
        writer.set_meta(f"msr.{msr_name(msr)}", hex(value))
    if loop.stats.agent_written is not None:
        writer.set_meta("agent_records", str(loop.stats.agent_written))
        writer.set_meta("records_received", str(loop.stats.records))
    if end is not None and end.qemu_returncode is not None:
        writer.set_meta("qemu_returncode", str(end.qemu_returncode))
    if end is not None and end.console:
        writer.set_meta("console", end.console[-CONSOLE_KEPT:])
    if loop.guest_status is not None:
        writer.set_meta("guest_status", str(loop.guest_status))


def _root_cause(target: Target | None, exc: TargetError) -> str:
    """What to blame: a command failed because QEMU or gdb was killed under it, say so."""
    message = str(exc) or type(exc).__name__
    if target is None or isinstance(exc, QemuDied | GdbDied):
        return message
    killed_by = target.guest_killed_by()
    if killed_by is not None:
        return f"QEMU was killed by {signal_name(killed_by)} ({message})"
    return message
