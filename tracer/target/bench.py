"""Stop-rate measurements on the same guest and workload, side by side in one run.

- bare gdb: a gdb Python breakpoint whose stop() only counts and returns False, with the best
  settings: the ceiling for anything gdb-driven.
- MI round trip: a plain breakpoint reported over MI, and one -exec-continue per stop.
- the agent alone: the tracer's agent and plan in a batch gdb, its records written to
  /dev/null: what the tracer costs inside gdb, without its own process or MI.
- bare gdb watchpoints: where the tracer takes syscalls by watchpoints (`syscall_watch`), the
  same two words watched from the first syscall's entry breakpoint, stop() returning False
  (three stops a syscall: the access watchpoint stops at the call and at the `ret`); counts
  the syscalls, the ceiling for a watchpoint tracer.
- the tracer: its real probes (the agent reading pt_regs, bases, user buffers).
Each rate is measured from the first to the last stop, so boot time is left out.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracer.target.errors import GdbError
from tracer.target.gdb import (
    AGENT_SCRIPT,
    CONNECTED_SETTINGS,
    FAST_SETTINGS,
    agent_env,
    find_gdb,
    to_stop_event,
)
from tracer.target.mi import MiChannel, mi_quote
from tracer.target.qemu import QemuConfig, QemuMachine, die_with_parent


@dataclass(frozen=True)
class Rate:
    stops: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.stops / self.seconds if self.seconds > 0 else 0.0


_BARE_SCRIPT = """
import gdb, time
_t = []
_lifted = []
class _Count(gdb.Breakpoint):
    def stop(self):
        _t.append(time.monotonic())
        return False
class _Lifting(gdb.Breakpoint):  # only with sites to lift: the plain loop's stop() stays bare
    def stop(self):
        _t.append(time.monotonic())
        for bp in _lifted:
            bp.enabled = True
        del _lifted[:]
        if self.lift:
            self.enabled = False
            _lifted.append(self)
        return False
for _a in {addrs!r}:
    (_Lifting if {lifted!r} else _Count)("*%#x" % _a, internal=True).lift = _a in {lifted!r}
def _report():
    span = (_t[-1] - _t[0]) if len(_t) > 1 else 0.0
    with open({out!r}, "w") as f:
        f.write("%d %.9f\\n" % (len(_t), span))
"""


_BARE_WATCH_SCRIPT = """
import gdb, time
_t = []
class _Watch(gdb.Breakpoint):
    def stop(self):
        if int(gdb.parse_and_eval("$pc")) == {dispatcher}:
            _t.append(time.monotonic())
        return False
class _Entry(gdb.Breakpoint):
    def stop(self):
        rsp = int(gdb.parse_and_eval("$rsp"))
        _Watch("*(unsigned long *)%#x" % (rsp - 8), gdb.BP_WATCHPOINT, gdb.WP_ACCESS, internal=True)
        _Watch("*(unsigned long *)%#x" % rsp, gdb.BP_WATCHPOINT, gdb.WP_READ, internal=True)
        self.enabled = False
        return False
_Entry("*%#x" % {call}, internal=True)
def _report():
    span = (_t[-1] - _t[0]) if len(_t) > 1 else 0.0
    with open({out!r}, "w") as f:
        f.write("%d %.9f\\n" % (len(_t), span))
"""


# The agent as the tracer loads it, each stop() timed from outside; only the syscall probes'
# stops count for the rate (as the bare loop's), every stop for the handled rate. A
# watchpoint's stop (`syscall_watch`) counts as a syscall stop when it was the entry or exit.
_AGENT_SCRIPT = """
import sys, time
sys.path.insert(0, {agent_dir!r})
import tracer_agent
_t, _syscall, _entries = [], [], [0]
_stop = tracer_agent.Probe.stop
def _timed(self):
    now = time.monotonic()
    _t.append(now)
    if self.probe["kind"] in ("syscall_entry", "syscall_exit"):
        _syscall.append(now)
        _entries[0] += self.probe["kind"] == "syscall_entry"
    return _stop(self)
tracer_agent.Probe.stop = _timed
_watch_stop = tracer_agent.Watch.stop
def _watch_timed(self):
    now = time.monotonic()
    _t.append(now)
    seq = tracer_agent.AGENT.ctx.seq
    stop = _watch_stop(self)
    if tracer_agent.AGENT.ctx.seq != seq:  # it recorded the syscall's entry or exit
        _syscall.append(now)
        _entries[0] += self.write
    return stop
tracer_agent.Watch.stop = _watch_timed
tracer_agent.install_file({plan!r})
def _span(t):
    return (t[-1] - t[0]) if len(t) > 1 else 0.0
def _report():
    a = tracer_agent.AGENT
    with open({out!r}, "w") as f:
        f.write("%d %.9f %d %.9f %d %d\\n" % (
            len(_syscall), _span(_syscall), len(_t), _span(_t), a.stop_ns, _entries[0]))
"""


@dataclass(frozen=True)
class AgentRate:
    """The agent alone: its syscall probes' stops (`syscall`), every stop it handled, and
    the stops at the syscall entry probe (one per syscall)."""

    syscall: Rate
    handled: Rate
    stop_ns: int  # inside the agent's stop(), all stops
    entries: int

    @property
    def stop_us(self) -> float:
        return self.stop_ns / self.handled.stops / 1e3 if self.handled.stops else 0.0


def _gdb_batch(kernel: Path, socket: Path, *extra: str) -> list[str]:
    argv = [find_gdb(), "-nx", "-q", "-batch"]
    for setting in FAST_SETTINGS:
        argv += ["-ex", setting]
    return [*argv, "-ex", f"file {kernel}", "-ex", f"target remote {socket}", *extra]


def _figures_written(out: Path, done: subprocess.CompletedProcess[bytes], what: str) -> list[str]:
    """The figures a batch gdb wrote, or why there are none in one line."""
    if not out.exists():
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise GdbError(
            f"{what} reported nothing: {lines[-1] if lines else f'gdb exited {done.returncode}'}"
        )
    return out.read_text().split()


def bare_gdb_rate(
    kernel: Path,
    qemu: QemuConfig,
    addrs: Sequence[int],
    scratch: Path,
    timeout: float = 300.0,
    lifted: Sequence[int] = (),
) -> Rate:
    """The ceiling: gdb's own Python breakpoints, nothing read, nothing sent anywhere. The
    sites in `lifted` are lifted at their stop and put back at the next, as the agent does
    (`tracer_agent.Agent.put_back`): no step over them."""
    out = scratch / "bare.out"
    script = textwrap.dedent(
        _BARE_SCRIPT.format(addrs=list(addrs), lifted=sorted(lifted), out=str(out))
    )
    return _script_rate(kernel, qemu, script, scratch / "bare.py", out, "the bare loop", timeout)


def _script_rate(
    kernel: Path, qemu: QemuConfig, text: str, script: Path, out: Path, what: str, timeout: float
) -> Rate:
    """Run a counting script in a batch gdb on a fresh guest; the stops and span it wrote."""
    script.write_text(text)
    with QemuMachine(qemu) as machine:
        argv = _gdb_batch(kernel, machine.files.gdb_socket, "-x", str(script))
        argv += ["-ex", "continue", "-ex", "python _report()"]
        done = subprocess.run(
            argv, capture_output=True, timeout=timeout, check=False, preexec_fn=die_with_parent
        )
    stops, span = _figures_written(out, done, what)
    return Rate(int(stops), float(span))


def bare_watch_rate(
    kernel: Path,
    qemu: QemuConfig,
    call: int,
    dispatcher: int,
    scratch: Path,
    timeout: float = 300.0,
) -> Rate:
    """The watchpoint ceiling: syscalls (not stops) a second with the dispatcher call's word
    and the frame's first word watched by gdb Python watchpoints that do nothing."""
    out = scratch / "bare-watch.out"
    script = _BARE_WATCH_SCRIPT.format(call=call, dispatcher=dispatcher, out=str(out))
    what = "the bare watchpoint loop"
    return _script_rate(kernel, qemu, script, scratch / "bare-watch.py", out, what, timeout)


def agent_alone_rate(
    kernel: Path,
    qemu: QemuConfig,
    plan: dict[str, Any],
    scratch: Path,
    timeout: float = 300.0,
) -> AgentRate:
    """The tracer's agent and plan in a batch gdb, its records to /dev/null: the tracer's cost
    inside gdb, without the tracer process reading, building and storing, and without MI."""
    out = scratch / "agent.out"
    script = scratch / "agent.py"
    plan_file = scratch / "agent-plan.json"
    plan_file.write_text(json.dumps({**plan, "stop_first_syscall": False, "stop_on_lstar": False}))
    script.write_text(
        _AGENT_SCRIPT.format(agent_dir=str(AGENT_SCRIPT.parent), plan=str(plan_file), out=str(out))
    )
    sink = os.open(os.devnull, os.O_WRONLY)
    try:
        with QemuMachine(qemu) as machine:
            argv = _gdb_batch(kernel, machine.files.gdb_socket)
            for setting in CONNECTED_SETTINGS:
                argv += ["-ex", setting]
            argv += ["-x", str(script), "-ex", "continue", "-ex", "python _report()"]
            done = subprocess.run(
                argv,
                capture_output=True,
                timeout=timeout,
                check=False,
                env=agent_env(sink),
                pass_fds=[sink],
                preexec_fn=die_with_parent,
            )
    finally:
        os.close(sink)
    syscall, syscall_span, handled, handled_span, stop_ns, entries = _figures_written(
        out, done, "the agent alone"
    )
    return AgentRate(
        Rate(int(syscall), float(syscall_span)),
        Rate(int(handled), float(handled_span)),
        int(stop_ns),
        int(entries),
    )


def mi_roundtrip_rate(
    kernel: Path,
    qemu: QemuConfig,
    addrs: Sequence[int],
    max_stops: int = 2000,
    timeout: float = 300.0,
) -> Rate:
    """One *stopped reported over MI and one -exec-continue per stop."""
    with QemuMachine(qemu) as machine:
        mi = MiChannel([find_gdb(), "--interpreter=mi3", "-nx", "-q"], preexec_fn=die_with_parent)
        try:
            for setting in FAST_SETTINGS:
                mi.command(f"-interpreter-exec console {mi_quote(setting)}")
            mi.command(f"-file-exec-and-symbols {mi_quote(str(kernel))}")
            mi.command(f"-target-select remote {machine.files.gdb_socket}")
            for addr in addrs:
                mi.command(f"-break-insert *{addr:#x}")
            _drain(mi)
            times: list[float] = []
            deadline = time.monotonic() + timeout
            while len(times) < max_stops and time.monotonic() < deadline:
                try:
                    mi.command("-exec-continue", timeout=30)
                except Exception:
                    break
                if not _wait_stopped(mi, deadline):
                    break
                times.append(time.monotonic())
        finally:
            mi.close()
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return Rate(len(times), span)


def _drain(mi: MiChannel) -> None:
    with contextlib.suppress(Exception):
        while True:
            mi.events.get_nowait()


def _wait_stopped(mi: MiChannel, deadline: float) -> bool:
    import queue

    while time.monotonic() < deadline:
        try:
            record = mi.events.get(timeout=0.5)
        except queue.Empty:
            if not mi.alive:
                return False
            continue
        stop = to_stop_event(record)
        if stop is not None:
            return stop.reason not in ("exited", "exited-normally", "exited-signalled")
    return False
