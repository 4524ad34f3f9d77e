"""Turn the agent's probe hits into events, reconstructing what happened between stops.

Default mode stops only where pt_regs is complete and at the exit instruction; the swapgs on
those paths are rebuilt from the state at the stops (swapgs exchanges GS base and
KERNEL_GS_BASE exactly, so the state before it is the state after it, swapped). Any other change
of a base between two stops that no probe explains is recorded with cause `unknown`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from tracer.analysis.tls import KERNEL_HALF, TlsOwners
from tracer.decode.ptregs import decode_pt_regs
from tracer.decode.tls import TlsVariable, decode_tls_block
from tracer.events import (
    ContextSwitch,
    Event,
    FuncEntry,
    FuncExit,
    Gap,
    Interrupt,
    MsrWrite,
    ProcessEvent,
    SegBaseChange,
    SegBases,
    SegCause,
    SegReg,
    SyscallEntry,
    SyscallExit,
    TlsSnapshot,
)
from tracer.probes.attribution import Attribution, CauseFinder, stack_words
from tracer.probes.identity import Identity
from tracer.probes.interrupts import vector_name
from tracer.probes.plan import Mode, ProbePlan
from tracer.probes.ringbuf import decode_records, to_events
from tracer.target.gdb import ProbeHit

MSR_FS_BASE = 0xC0000100
MSR_GS_BASE = 0xC0000101
MSR_KERNEL_GS_BASE = 0xC0000102
BASE_MSRS: dict[int, SegReg] = {MSR_FS_BASE: "fs", MSR_GS_BASE: "gs", MSR_KERNEL_GS_BASE: "kgs"}
NR_ARCH_PRCTL = 158
EXIT_SYSCALLS = {60, 231}
SYSCALL_ARG_FIELDS = ("di", "si", "dx", "r10", "r8", "r9")
# Probes that only fire on a way into or out of user mode: the thread is a user thread.
HOLD_LIMIT = 64
USER_CROSSINGS = {"syscall_entry", "syscall_exit", "swapgs", "return_to_user"}


def with_base(bases: SegBases, which: SegReg, value: int) -> SegBases:
    name = {"fs": "fs_base", "gs": "gs_base", "kgs": "kernel_gs_base"}[which]
    return replace(bases, **{name: value})


def swapped(bases: SegBases) -> SegBases:
    return SegBases(bases.fs_base, bases.kernel_gs_base, bases.gs_base)


@dataclass
class _Inflight:
    entry_seq: int
    nr: int
    args: tuple[int, int, int, int, int, int]


class EventBuilder:
    """Stateful: feed hits in order, get events in order."""

    def __init__(
        self,
        plan: ProbePlan,
        program_names: Sequence[str],
        t0_ns: int,
        symbolize: Callable[[int], str | None] | None = None,
        tls_variables: dict[str, Sequence[TlsVariable]] | None = None,
        causes: CauseFinder | None = None,
    ) -> None:
        self.plan = plan
        self.t0 = t0_ns
        self.seq = 0
        self.bases: dict[int, SegBases] = {}
        self.msr_values: dict[int, int] = {}
        self.ids = Identity(list(program_names))
        self.inflight: dict[int, _Inflight] = {}  # by cr3, like the agent's
        self.agent_errors: list[str] = []
        self.owners = TlsOwners(symbolize=symbolize)
        self.tls_variables = tls_variables or {}
        self.causes = causes or CauseFinder()
        self.swapped_early: dict[int, bool] = {}
        self.held: list[Event] = []
        self.call_stacks: dict[tuple[int, int], list[tuple[int, int, bool]]] = {}
        self.ring_overruns = 0
        self.tsc_khz: int | None = None

    # --- bookkeeping -------------------------------------------------------------------------

    def _seq(self) -> int:
        self.seq += 1
        return self.seq

    def _time(self, hit: ProbeHit) -> int:
        return max(0, hit.time_ns - self.t0)

    def process_name(self, pid: int) -> str:
        return self.ids.name(pid)

    def _pid(self, hit: ProbeHit) -> int:
        return self.ids.pid(hit.cpu, hit.cr3)

    def _user_thread(self, hit: ProbeHit, out: list[Event]) -> int:
        thread, first = self.ids.user_thread(hit.cpu, hit.cr3)
        if first:
            out.append(
                ProcessEvent(
                    self._seq(), self._time(hit), hit.cpu, thread.pid, hit.cr3, "start", thread.name
                )
            )
        return thread.pid

    def _base_change(
        self,
        hit: ProbeHit,
        which: SegReg,
        old: int,
        new: int,
        cause: SegCause,
        pc: int,
        inferred: bool,
        out: list[Event],
    ) -> None:
        if old == new:
            return
        out.append(
            SegBaseChange(
                self._seq(),
                self._time(hit),
                hit.cpu,
                self._pid(hit),
                which,
                old,
                new,
                cause,
                pc,
                inferred,
            )
        )

    def _reconcile(self, hit: ProbeHit, expected: SegBases, out: list[Event]) -> None:
        """Changes between the last known state and `expected` that no probe saw."""
        last = self.bases.get(hit.cpu)
        if last is not None:
            for which in ("fs", "gs", "kgs"):
                self._base_change(
                    hit,
                    which,
                    last.get(which),
                    expected.get(which),  # type: ignore[arg-type]
                    SegCause.UNKNOWN,
                    hit.pc,
                    True,
                    out,
                )
        self.bases[hit.cpu] = expected

    def _swapgs(
        self, hit: ProbeHit, before: SegBases, pc: int, inferred: bool, out: list[Event]
    ) -> SegBases:
        after = swapped(before)
        self._base_change(
            hit, "gs", before.gs_base, after.gs_base, SegCause.SWAPGS, pc, inferred, out
        )
        self._base_change(
            hit,
            "kgs",
            before.kernel_gs_base,
            after.kernel_gs_base,
            SegCause.SWAPGS,
            pc,
            inferred,
            out,
        )
        self.bases[hit.cpu] = after
        return after

    def _entry_swaps(
        self, hit: ProbeHit, observed: SegBases, sites: Sequence[int], out: list[Event]
    ) -> None:
        """At an entry path's own stop: its swapgs, unless a write on the way in rebuilt it."""
        if self.swapped_early.pop(hit.cpu, False):
            self._reconcile(hit, observed, out)
        else:
            self._inferred_swaps(hit, observed, sites, out)

    def _inferred_swaps(
        self, hit: ProbeHit, observed: SegBases, sites: Sequence[int], out: list[Event]
    ) -> None:
        """Rebuild the swapgs between the last stop and this one from the disassembly."""
        if self.plan.mode is Mode.EXHAUSTIVE or not sites:
            self._reconcile(hit, observed, out)
            return
        before = observed
        for _ in sites:
            before = swapped(before)
        self._reconcile(hit, before, out)
        state = before
        for site in sites:
            state = self._swapgs(hit, state, site, True, out)

    def _exit_sites(self, hit: ProbeHit) -> list[int]:
        site = self.plan.exit_swapgs.get(hit.pc)
        return [] if site is None else [site]

    def _finish(self, out: list[Event]) -> list[Event]:
        """Name the owners of every base change, learning from each event in order."""
        done: list[Event] = []
        for event in out:
            if isinstance(event, SegBaseChange):
                old, new = self.owners.label_change(event)
                event = replace(event, old_owner=old, new_owner=new)
            elif isinstance(event, TlsSnapshot):
                event = replace(event, owner=self.owners.owner(event.fs_base, "fs", event.pid))
            else:
                self.owners.learn(event)
            done.append(event)
        return done

    def _release(self, out: list[Event], hit: ProbeHit) -> list[Event]:
        """Hold what a context switch writes until the switch itself is seen: the kernel TCB
        it loads belongs to the next thread, which only the switch probe names."""
        switching = any(
            isinstance(e, SegBaseChange) and e.cause is SegCause.CONTEXT_SWITCH for e in out
        )
        if hit.probe == "context_switch" and self.held:
            switch = next((e for e in out if isinstance(e, ContextSwitch)), None)
            held, self.held = self.held, []
            if switch is None:
                return self._finish(held) + self._finish(out)
            self.owners.current[switch.cpu] = switch.next_pid
            done = []
            for event in held:
                if isinstance(event, SegBaseChange) and event.cause is SegCause.CONTEXT_SWITCH:
                    # What the switch saves is the previous thread's; what it loads, the next's.
                    old, new = self.owners.label_load(
                        replace(event, pid=switch.next_pid), switch.next_pid
                    )
                    done.append(replace(event, old_owner=old, new_owner=new))
                else:
                    done += self._finish([event])
            return done + self._finish(out)
        if switching or self.held:
            self.held.extend(out)
            if len(self.held) > HOLD_LIMIT:  # no switch came: let them go as they are
                held, self.held = self.held, []
                return self._finish(held)
            return []
        return self._finish(out)

    def flush_held(self) -> list[Event]:
        """At the end of a capture: whatever is still held."""
        held, self.held = self.held, []
        return self._finish(held)

    # --- hits --------------------------------------------------------------------------------

    def feed(self, hit: ProbeHit) -> list[Event]:
        out: list[Event] = []
        observed = SegBases(*hit.bases[:3])
        handler = {
            "syscall_entry": self._on_entry,
            "syscall_exit": self._on_exit,
            "return_to_user": self._on_return_to_user,
            "interrupt_entry": self._on_interrupt_entry,
            "interrupt_exit": self._on_interrupt_exit,
            "context_switch": self._on_switch,
            "wrmsr": self._on_wrmsr,
            "swapgs": self._on_swapgs,
            "wrfsbase": self._on_wrbase,
            "wrgsbase": self._on_wrbase,
            "func_entry": self._on_func_entry,
            "func_exit": self._on_func_exit,
            "ftrace_drain": self._on_ftrace_drain,
        }.get(hit.probe)
        if handler is None:
            return out
        if hit.probe in USER_CROSSINGS:
            self._user_thread(hit, out)
        handler(hit, observed, out)
        return self._release(out, hit)

    def agent_error(self, record: dict[str, object], time_ns: int) -> Gap:
        text = str(record.get("error", "unknown agent error"))
        self.agent_errors.append(text)
        return Gap(self._seq(), max(0, time_ns - self.t0), f"probe failed: {text}", 1)

    def _regs(self, hit: ProbeHit) -> tuple[tuple[tuple[str, int], ...], dict[str, int]]:
        raw = hit.fields.get("ptregs")
        regs = decode_pt_regs(bytes.fromhex(raw), self.plan.ptregs_layout) if raw else ()
        return regs, dict(regs)

    def _on_entry(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        pid = self._pid(hit)
        sites = self.plan.entry.entry_swapgs if self.plan.entry is not None else []
        self._entry_swaps(hit, observed, sites, out)
        regs, values = self._regs(hit)
        cpu_regs = hit.fields.get("cpu_regs", {})
        nr = values.get("orig_ax", cpu_regs.get("rax", 0))
        args = tuple(values.get(name, 0) for name in SYSCALL_ARG_FIELDS)
        seq = self._seq()
        out.append(
            SyscallEntry(
                seq,
                self._time(hit),
                hit.cpu,
                pid,
                hit.cr3,
                nr,
                args,  # type: ignore[arg-type]
                user_rip=values.get("ip", 0),
                user_rsp=values.get("sp", 0),
                user_rflags=values.get("flags", 0),
                regs_addr=hit.fields.get("regs_addr", 0),
                regs=regs,
                bases=observed,
                pc=hit.pc,
                memory=_memory(hit),
            )
        )
        self.inflight[hit.cr3] = _Inflight(seq, nr, args)  # type: ignore[arg-type]
        if nr in EXIT_SYSCALLS:
            out.append(
                ProcessEvent(
                    self._seq(),
                    self._time(hit),
                    hit.cpu,
                    pid,
                    hit.cr3,
                    "exit",
                    self.process_name(pid),
                    status=args[0] & 0xFF,
                )
            )
            self.ids.exited(hit.cpu, hit.cr3)
            self.inflight.pop(hit.cr3, None)

    def _on_return_to_user(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        self._inferred_swaps(hit, observed, self._exit_sites(hit), out)

    def _on_exit(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        pid = self._pid(hit)
        self._inferred_swaps(hit, observed, self._exit_sites(hit), out)
        inflight = self.inflight.pop(hit.cr3, None)
        regs, values = self._regs(hit)
        cpu_regs = hit.fields.get("cpu_regs", {})
        ret = values.get("ax", cpu_regs.get("rax", 0))
        frame = hit.fields.get("iret_frame")
        if hit.fields.get("exit_kind") == "iretq" and frame:
            user_rip, user_rflags, user_rsp = frame[0], frame[2], frame[3]
        else:
            user_rip, user_rflags = cpu_regs.get("rcx", 0), cpu_regs.get("r11", 0)
            user_rsp = cpu_regs.get("rsp", 0)
        out.append(
            SyscallExit(
                self._seq(),
                self._time(hit),
                hit.cpu,
                pid,
                hit.cr3,
                inflight.nr if inflight else values.get("orig_ax", 0),
                ret,
                inflight.entry_seq if inflight else None,
                user_rip,
                user_rsp,
                user_rflags,
                regs,
                observed,
                hit.pc,
                _memory(hit),
            )
        )

    def _on_interrupt_entry(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        regs, values = self._regs(hit)
        from_ring = values.get("cs", 0) & 3
        if from_ring == 3:
            self._user_thread(hit, out)
        stub = self.plan.interrupt_stubs.get(hit.pc)
        sites = stub.path.entry_swapgs if (stub is not None and from_ring == 3) else ()
        self._entry_swaps(hit, observed, sites, out)
        vector = hit.fields.get("vector")
        has_code = bool(hit.fields.get("has_error_code"))
        out.append(
            Interrupt(
                self._seq(),
                self._time(hit),
                hit.cpu,
                self._pid(hit),
                "entry",
                -1 if vector is None else vector,
                vector_name(vector),
                values.get("orig_ax") if has_code else None,
                hit.fields.get("cr2"),
                from_ring,
                values.get("ip", 0),
                hit.pc,
            )
        )

    def _on_interrupt_exit(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        frame = hit.fields.get("iret_frame") or [0, 0, 0, 0, 0]
        to_ring = frame[1] & 3
        self._inferred_swaps(hit, observed, self._exit_sites(hit) if to_ring == 3 else (), out)
        vector = hit.fields.get("vector")
        out.append(
            Interrupt(
                self._seq(),
                self._time(hit),
                hit.cpu,
                self._pid(hit),
                "exit",
                -1 if vector is None else vector,
                vector_name(vector),
                None,
                None,
                to_ring,
                frame[0],
                hit.pc,
            )
        )

    def _on_switch(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        self._reconcile(hit, observed, out)
        layout = self.plan.task_layout
        tasks = hit.fields.get("tasks") or [None, None]
        decoded = []
        for raw, addr in zip(
            tasks, (hit.fields.get("prev", 0), hit.fields.get("next", 0)), strict=False
        ):
            pid, name = layout.decode(bytes.fromhex(raw)) if (layout and raw) else (None, "")
            decoded.append((pid if pid is not None else 0, name or f"task@{addr:#x}"))
        (prev_pid, prev_name), (next_pid, next_name) = decoded
        self.ids.switched(hit.cpu, prev_pid, prev_name)
        self.ids.switched(hit.cpu, next_pid, next_name)
        out.append(
            ContextSwitch(
                self._seq(),
                self._time(hit),
                hit.cpu,
                prev_pid,
                next_pid,
                self.ids.name(prev_pid),
                self.ids.name(next_pid),
                hit.pc,
            )
        )

    def _attribute(self, hit: ProbeHit, default: SegCause) -> Attribution:
        inflight = self.inflight.get(hit.cr3)
        in_arch_prctl = inflight is not None and inflight.nr == NR_ARCH_PRCTL
        return self.causes.attribute(
            hit.fields.get("callers") or (),
            stack_words(hit.fields.get("stack")),
            in_arch_prctl,
            default,
        )

    def _arrive(
        self, hit: ProbeHit, observed: SegBases, attribution: Attribution, out: list[Event]
    ) -> None:
        """Bring the state up to this stop. A write on an entry path's way in comes after
        that path's swapgs (when it came from user mode: GS and KGS are then swapped from the
        last state); rebuild it here, and not again at the path's own stop."""
        last = self.bases.get(hit.cpu)
        if (
            attribution.entry_swapgs
            and last is not None
            and self.plan.mode is Mode.DEFAULT
            and swapped(last) == observed
            and last != observed
        ):
            self._inferred_swaps(hit, observed, attribution.entry_swapgs, out)
            self.swapped_early[hit.cpu] = True
        else:
            self._reconcile(hit, observed, out)

    def _on_wrmsr(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        attribution = self._attribute(hit, SegCause.WRMSR)
        self._arrive(hit, observed, attribution, out)
        msr, value = int(hit.fields["msr"]), int(hit.fields["value"])
        which = BASE_MSRS.get(msr)
        old = observed.get(which) if which else self.msr_values.get(msr)
        out.append(
            MsrWrite(self._seq(), self._time(hit), hit.cpu, self._pid(hit), msr, old, value, hit.pc)
        )
        self.msr_values[msr] = value
        if which is not None:
            self._base_write(hit, which, observed, value, attribution.cause, out)

    def _on_wrbase(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        which: SegReg = "fs" if hit.probe == "wrfsbase" else "gs"
        default = SegCause.WRFSBASE if which == "fs" else SegCause.WRGSBASE
        attribution = self._attribute(hit, default)
        self._arrive(hit, observed, attribution, out)
        value = hit.fields.get("value")
        if value is None:
            return
        self._base_write(hit, which, observed, int(value), attribution.cause, out)

    def _base_write(
        self,
        hit: ProbeHit,
        which: SegReg,
        observed: SegBases,
        value: int,
        cause: SegCause,
        out: list[Event],
    ) -> None:
        self._base_change(hit, which, observed.get(which), value, cause, hit.pc, False, out)
        self.bases[hit.cpu] = with_base(observed, which, value)
        if which == "fs" and hit.fields.get("tls_block") is not None:
            out.append(self._tls_snapshot(hit, value, out))

    def _tls_snapshot(self, hit: ProbeHit, fs_base: int, out: list[Event]) -> TlsSnapshot:
        # A kernel-half TCB holds the kernel's thread-locals, a user one the program's. The
        # owner's name is given when the event is released (_finish), once it is known.
        key = "kernel" if fs_base >= KERNEL_HALF else self.ids.name(self._pid(hit))
        variables = self.tls_variables.get(key, ())
        block = decode_tls_block(
            fs_base, bytes.fromhex(hit.fields["tls_block"]), self.plan.tls_span, variables
        )
        return TlsSnapshot(
            self._seq(),
            self._time(hit),
            hit.cpu,
            self._pid(hit),
            fs_base,
            block.self_pointer,
            "",
            block.values,
        )

    def _on_ftrace_drain(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        ring = self.plan.ring
        if ring is None:
            return
        records = decode_records(ring, bytes.fromhex(hit.fields.get("data", "")))
        lost = int(hit.fields.get("overruns", 0)) - self.ring_overruns
        if lost > 0:
            self.ring_overruns += lost
            out.append(Gap(self._seq(), self._time(hit), "function-graph ring overran", lost))
        out.extend(to_events(records, self.tsc_khz, hit.cpu, self._time(hit), self._seq))

    def _on_func_entry(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        pid = self._pid(hit)
        stack = self.call_stacks.setdefault((hit.cpu, pid), [])
        func = int(hit.fields["func"])
        quiet = bool(hit.fields.get("notrace")) or self._quiet(stack)
        if not quiet:
            out.append(
                FuncEntry(
                    self._seq(), self._time(hit), hit.cpu, pid, func, len(stack), None, "breakpoint"
                )
            )
        stack.append((func, int(hit.fields.get("rsp", 0)), quiet))

    @staticmethod
    def _quiet(stack: list[tuple[int, int, bool]]) -> bool:
        """Inside a set_graph_notrace function: nothing is recorded."""
        return bool(stack) and stack[-1][2]

    def _on_func_exit(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        """A `ret` with RSP at a frame's return address ends that frame and every frame a tail
        call left on the same slot; a tail jump ends its own function only."""
        pid = self._pid(hit)
        stack = self.call_stacks.setdefault((hit.cpu, pid), [])
        func, rsp = int(hit.fields["func"]), int(hit.fields.get("rsp", 0))
        retval = hit.fields.get("rax")
        if hit.fields.get("how") == "tail":
            ending = [len(stack) - 1] if stack and stack[-1][0] == func else []
        else:
            ending = [i for i, (_, entry_rsp, _) in enumerate(stack) if entry_rsp <= rsp]
        if not ending:
            if not self._quiet(stack):
                out.append(
                    FuncExit(
                        self._seq(),
                        self._time(hit),
                        hit.cpu,
                        pid,
                        func,
                        len(stack),
                        None,
                        retval,
                        "breakpoint",
                    )
                )
            return
        for _ in range(len(stack) - 1, min(ending) - 1, -1):
            done, _, quiet = stack.pop()
            if not quiet:
                out.append(
                    FuncExit(
                        self._seq(),
                        self._time(hit),
                        hit.cpu,
                        pid,
                        done,
                        len(stack),
                        None,
                        retval,
                        "breakpoint",
                    )
                )

    def _on_swapgs(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        self._reconcile(hit, observed, out)
        self._swapgs(hit, observed, hit.pc, False, out)


def _memory(hit: ProbeHit) -> tuple[tuple[int, bytes | None], ...]:
    out = []
    for index, data in hit.fields.get("memory") or ():
        out.append((int(index), None if data is None else bytes.fromhex(data)))
    return tuple(out)
