"""Pause, resume and single-step (CaptureControl): stops the tracer causes itself, kept apart
from the agent's stops and from the guest's end."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tracer.capture.control import CaptureControl
from tracer.target.errors import GdbDied, TargetError, TargetTimeout
from tracer.target.protocol import Target
from tracer.target.records import StopEvent

if TYPE_CHECKING:
    from tracer.capture.loop import CaptureLoop

INTERRUPT_RETRY = 0.5  # seconds before a pause's interrupt is sent again
CONTROL_TIMEOUT = 10.0  # seconds for the guest to stop after an interrupt or a step
VCPU_REGISTERS = ("rip", "cr3", "fs_base", "gs_base", "k_gs_base")  # read from every vCPU


class Pausing:
    def __init__(self, loop: CaptureLoop, control: CaptureControl) -> None:
        self.loop = loop
        self.control = control
        self.paused_at: float | None = None  # when the user paused the guest
        self.paused_s = 0.0  # time spent paused, which no timeout counts

    def serve(self, target: Target) -> bool:
        """Answer the requests made so far; True while the guest stays paused."""
        wait = 0.05 if self.paused_at is not None else 0.0
        for request in self.control.take(wait):
            if self.loop.done_reason is not None:
                return False
            action, _, cpu = request.partition(":")
            if action in ("pause", "step") and self.paused_at is None:
                self._pause(target)
            if action == "step" and self.paused_at is not None:
                self._step(target, int(cpu) if cpu else None)
            elif action == "resume" and self.paused_at is not None:
                self._resume(target)
        if self.paused_at is None or self.loop.done_reason is not None:
            return False
        if target.guest_returncode is not None:
            self.loop.guest_ended(target)
            return False
        if not target.control_alive:
            raise GdbDied(f"{target.control_death()} while paused")
        return True

    def _pause(self, target: Target) -> None:
        while True:
            stop = self._interrupt(target)
            if stop.ended or target.guest_returncode is not None:
                self.loop.guest_ended(target)
                return
            if stop.interrupted:
                break
            if not self.loop.handle_stop(target, stop):  # the agent's own stop came first
                return
        target.mark_stopped()
        target.set_watchpoints_paused(True)  # a step after a watchpoint's stop may not move
        self.loop.drain_all(target)
        self.paused_at = time.monotonic()
        self.control.paused = True
        self.loop.note(f"paused at {self._where(target)}")
        self._snapshot(target)

    def _interrupt(self, target: Target) -> StopEvent:
        """Interrupt the guest and wait for the stop. gdb drops an interrupt that lands while
        it is inside a breakpoint's stop() and resumes, so one that brings no stop is sent
        again."""
        deadline = time.monotonic() + CONTROL_TIMEOUT
        while True:
            target.interrupt()
            try:
                return target.wait_stopped(INTERRUPT_RETRY)
            except TargetTimeout:
                if time.monotonic() > deadline or target.guest_returncode is not None:
                    return target.wait_stopped(INTERRUPT_RETRY)

    def _step(self, target: Target, cpu: int | None) -> None:
        if cpu is not None:
            try:
                target.select_vcpu(cpu)
            except TargetError as exc:
                self.loop.note(f"step: no vCPU {cpu} ({exc})", "warning")
                return
        self.control.stepped = cpu
        stop = target.step_instruction(CONTROL_TIMEOUT)
        if stop.ended or target.guest_returncode is not None:
            self.loop.guest_ended(target)
            return
        self.loop.drain_all(target)
        on = "" if cpu is None else f" on cpu{cpu}"
        self.loop.note(f"step: rip {self._where(target)}{on}")
        self._snapshot(target)

    def _snapshot(self, target: Target) -> None:
        """Every vCPU's registers now, for the UI; in the trace too when there are several."""
        try:
            vcpus = {cpu: target.vcpu_registers(cpu, VCPU_REGISTERS) for cpu in target.vcpus()}
        except TargetError as exc:
            self.loop.note(f"vCPU registers not read: {exc}", "warning")
            return
        self.control.vcpus = vcpus
        if len(vcpus) < 2:
            return
        for cpu, values in vcpus.items():
            rip = values.get("rip")
            symbol = self.loop.image.symbolize(rip) if rip is not None else None
            where = f"{rip:#x}" + (f" <{symbol}>" if symbol else "") if rip is not None else "?"
            bases = "  ".join(
                f"{name} {values[name]:#x}" for name in VCPU_REGISTERS[1:] if name in values
            )
            self.loop.note(f"cpu{cpu} stopped at {where}  {bases}")

    def _resume(self, target: Target) -> None:
        assert self.paused_at is not None
        self.paused_s += time.monotonic() - self.paused_at
        self.paused_at = None
        self.control.paused = False
        self.loop.note("resumed")
        self.loop.last_activity = time.monotonic()
        target.set_watchpoints_paused(False)
        target.resume()

    def _where(self, target: Target) -> str:
        rip = target.read_register("rip")
        symbol = self.loop.image.symbolize(rip)
        return f"{rip:#x}" + (f" <{symbol}>" if symbol else "")
