"""Turn the agent's probe hits into events, reconstructing what happened between stops.

Default mode stops only where pt_regs is complete and at the exit instruction; the swapgs on the
syscall path are rebuilt from the state at those stops (swapgs exchanges GS base and
KERNEL_GS_BASE exactly, so the state before it is the state after it, swapped). Any other change
of a base between two stops that no probe explains is recorded with cause `unknown`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from tracer.decode.ptregs import decode_pt_regs
from tracer.events import (
    Event,
    Gap,
    MsrWrite,
    ProcessEvent,
    SegBaseChange,
    SegBases,
    SegCause,
    SegReg,
    SyscallEntry,
    SyscallExit,
)
from tracer.probes.plan import Mode, ProbePlan, exit_swapgs_for
from tracer.target.gdb import ProbeHit

MSR_FS_BASE = 0xC0000100
MSR_GS_BASE = 0xC0000101
MSR_KERNEL_GS_BASE = 0xC0000102
BASE_MSRS: dict[int, SegReg] = {MSR_FS_BASE: "fs", MSR_GS_BASE: "gs", MSR_KERNEL_GS_BASE: "kgs"}
NR_ARCH_PRCTL = 158
EXIT_SYSCALLS = {60, 231}
SYSCALL_ARG_FIELDS = ("di", "si", "dx", "r10", "r8", "r9")
# Probes that only fire on a way into or out of user mode: their CR3 is a process's.
USER_CROSSINGS = {"syscall_entry", "syscall_exit", "swapgs", "return_to_user"}
CR3_FLAGS = 0xFFF  # PCID / PWT / PCD bits: not part of the address-space identity


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


@dataclass
class _Process:
    pid: int
    name: str


class EventBuilder:
    """Stateful: feed hits in order, get events in order."""

    def __init__(self, plan: ProbePlan, program_names: Sequence[str], t0_ns: int) -> None:
        self.plan = plan
        self.program_names = list(program_names)
        self.t0 = t0_ns
        self.seq = 0
        self.bases: dict[int, SegBases] = {}
        self.msr_values: dict[int, int] = {}
        self.processes: dict[int, _Process] = {}
        self.next_pid = 1
        self.inflight: dict[int, _Inflight] = {}
        self.agent_errors: list[str] = []

    # --- bookkeeping -------------------------------------------------------------------------

    def _seq(self) -> int:
        self.seq += 1
        return self.seq

    def _time(self, hit: ProbeHit) -> int:
        return max(0, hit.time_ns - self.t0)

    def pid_of(self, cr3: int) -> int:
        proc = self.processes.get(cr3 & ~CR3_FLAGS)
        return proc.pid if proc else 0

    def _process_for(self, hit: ProbeHit, out: list[Event]) -> int:
        key = hit.cr3 & ~CR3_FLAGS
        proc = self.processes.get(key)
        if proc is None:
            pid = self.next_pid
            self.next_pid += 1
            index = pid - 1
            name = self.program_names[index] if index < len(self.program_names) else f"pid{pid}"
            proc = _Process(pid, name)
            self.processes[key] = proc
            out.append(
                ProcessEvent(self._seq(), self._time(hit), hit.cpu, pid, hit.cr3, "start", name)
            )
        return proc.pid

    def process_name(self, pid: int) -> str:
        for proc in self.processes.values():
            if proc.pid == pid:
                return proc.name
        return "kernel" if pid == 0 else f"pid{pid}"

    def _base_change(
        self, hit: ProbeHit, which: SegReg, old: int, new: int, cause: SegCause, pc: int,
        inferred: bool, out: list[Event],
    ) -> None:
        if old == new:
            return
        pid = self.pid_of(hit.cr3)
        out.append(
            SegBaseChange(self._seq(), self._time(hit), hit.cpu, pid, which, old, new, cause, pc,
                          inferred)
        )

    def _reconcile(self, hit: ProbeHit, expected: SegBases, out: list[Event]) -> None:
        """Changes between the last known state and `expected` that no probe saw."""
        last = self.bases.get(hit.cpu)
        if last is not None:
            for which in ("fs", "gs", "kgs"):
                old, new = last.get(which), expected.get(which)  # type: ignore[arg-type]
                self._base_change(hit, which, old, new, SegCause.UNKNOWN, hit.pc, True, out)  # type: ignore[arg-type]
        self.bases[hit.cpu] = expected

    def _swapgs(self, hit: ProbeHit, before: SegBases, pc: int, inferred: bool,
                out: list[Event]) -> SegBases:
        after = swapped(before)
        self._base_change(hit, "gs", before.gs_base, after.gs_base, SegCause.SWAPGS, pc,
                          inferred, out)
        self._base_change(hit, "kgs", before.kernel_gs_base, after.kernel_gs_base,
                          SegCause.SWAPGS, pc, inferred, out)
        self.bases[hit.cpu] = after
        return after

    # --- hits --------------------------------------------------------------------------------

    def feed(self, hit: ProbeHit) -> list[Event]:
        out: list[Event] = []
        observed = SegBases(*hit.bases[:3])
        handler = {
            "syscall_entry": self._on_entry,
            "syscall_exit": self._on_exit,
            "return_to_user": self._on_return_to_user,
            "wrmsr": self._on_wrmsr,
            "swapgs": self._on_swapgs,
            "wrfsbase": self._on_wrbase,
            "wrgsbase": self._on_wrbase,
        }.get(hit.probe)
        if handler is None:
            return out
        if hit.probe in USER_CROSSINGS:
            self._process_for(hit, out)
        handler(hit, observed, out)
        return out

    def agent_error(self, record: dict[str, object], time_ns: int) -> Gap:
        text = str(record.get("error", "unknown agent error"))
        self.agent_errors.append(text)
        return Gap(self._seq(), max(0, time_ns - self.t0), f"probe failed: {text}", 1)

    def _inferred_swaps(self, hit: ProbeHit, observed: SegBases, sites: Sequence[int],
                        out: list[Event]) -> None:
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

    def _on_entry(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        pid = self._process_for(hit, out)
        entry = self.plan.entry
        sites = entry.entry_swapgs if entry is not None else []
        self._inferred_swaps(hit, observed, sites, out)
        raw = hit.fields.get("ptregs")
        regs = decode_pt_regs(bytes.fromhex(raw), self.plan.ptregs_layout) if raw else ()
        values = dict(regs)
        cpu_regs = hit.fields.get("cpu_regs", {})
        nr = values.get("orig_ax", cpu_regs.get("rax", 0))
        args = tuple(values.get(name, 0) for name in SYSCALL_ARG_FIELDS)
        seq = self._seq()
        out.append(
            SyscallEntry(
                seq, self._time(hit), hit.cpu, pid, hit.cr3, nr, args,  # type: ignore[arg-type]
                user_rip=values.get("ip", 0), user_rsp=values.get("sp", 0),
                user_rflags=values.get("flags", 0), regs_addr=hit.fields.get("regs_addr", 0),
                regs=regs, bases=observed, pc=hit.pc, memory=_memory(hit),
            )
        )
        self.inflight[hit.cr3] = _Inflight(seq, nr, args)  # type: ignore[arg-type]
        if nr in EXIT_SYSCALLS:
            out.append(
                ProcessEvent(self._seq(), self._time(hit), hit.cpu, pid, hit.cr3, "exit",
                             self.process_name(pid), status=args[0] & 0xFF)
            )
            self.processes.pop(hit.cr3 & ~CR3_FLAGS, None)
            self.inflight.pop(hit.cr3, None)

    def _exit_sites(self, hit: ProbeHit) -> list[int]:
        entry = self.plan.entry
        site = exit_swapgs_for(entry, hit.pc) if entry is not None else None
        return [] if site is None else [site]

    def _on_return_to_user(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        self._inferred_swaps(hit, observed, self._exit_sites(hit), out)

    def _on_exit(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        pid = self.pid_of(hit.cr3)
        self._inferred_swaps(hit, observed, self._exit_sites(hit), out)
        inflight = self.inflight.pop(hit.cr3, None)
        raw = hit.fields.get("ptregs")
        regs = decode_pt_regs(bytes.fromhex(raw), self.plan.ptregs_layout) if raw else ()
        values = dict(regs)
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
                self._seq(), self._time(hit), hit.cpu, pid, hit.cr3,
                inflight.nr if inflight else values.get("orig_ax", 0), ret,
                inflight.entry_seq if inflight else None,
                user_rip, user_rsp, user_rflags, regs, observed, hit.pc, _memory(hit),
            )
        )

    def _on_wrmsr(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        self._reconcile(hit, observed, out)
        msr, value = int(hit.fields["msr"]), int(hit.fields["value"])
        which = BASE_MSRS.get(msr)
        old = observed.get(which) if which else self.msr_values.get(msr)
        pid = self.pid_of(hit.cr3)
        out.append(MsrWrite(self._seq(), self._time(hit), hit.cpu, pid, msr, old, value, hit.pc))
        self.msr_values[msr] = value
        if which is not None:
            inflight = self.inflight.get(hit.cr3)
            cause = SegCause.WRMSR
            if inflight is not None and inflight.nr == NR_ARCH_PRCTL and pid:
                cause = SegCause.ARCH_PRCTL
            self._base_change(hit, which, observed.get(which), value, cause, hit.pc, False, out)
            self.bases[hit.cpu] = with_base(observed, which, value)

    def _on_swapgs(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        self._reconcile(hit, observed, out)
        self._swapgs(hit, observed, hit.pc, False, out)

    def _on_wrbase(self, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
        self._reconcile(hit, observed, out)
        value = hit.fields.get("value")
        if value is None:
            return
        which: SegReg = "fs" if hit.probe == "wrfsbase" else "gs"
        cause = SegCause.WRFSBASE if which == "fs" else SegCause.WRGSBASE
        inflight = self.inflight.get(hit.cr3)
        if inflight is not None and inflight.nr == NR_ARCH_PRCTL:
            cause = SegCause.ARCH_PRCTL
        self._base_change(hit, which, observed.get(which), int(value), cause, hit.pc, False, out)
        self.bases[hit.cpu] = with_base(observed, which, int(value))


def _memory(hit: ProbeHit) -> tuple[tuple[int, bytes | None], ...]:
    out = []
    for index, data in hit.fields.get("memory") or ():
        out.append((int(index), None if data is None else bytes.fromhex(data)))
    return tuple(out)
