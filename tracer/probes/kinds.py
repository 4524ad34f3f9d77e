"""The vocabulary the tracer and its gdb-side agent share: probe kinds, plan modes, a probe to arm.

Standard library only: the agent imports this inside gdb's own Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ProbeKind(StrEnum):
    """What a probe is (armed at a site) or what a record from the agent is (on the pipe)."""

    SYSCALL_ENTRY = "syscall_entry"
    SYSCALL_EXIT = "syscall_exit"  # at each sysretq/iretq (Linux: where the dispatcher returns)
    RETURN_TO_USER = "return_to_user"  # record: an exit with no entry seen (first user entry)
    INTERRUPT_ENTRY = "interrupt_entry"
    INTERRUPT_EXIT = "interrupt_exit"  # record: an exit through an interrupt's frame
    WRMSR = "wrmsr"
    WRFSBASE = "wrfsbase"
    WRGSBASE = "wrgsbase"
    SWAPGS = "swapgs"
    CONTEXT_SWITCH = "context_switch"
    FUNC_ENTRY = "func_entry"
    FUNC_EXIT = "func_exit"
    FTRACE_FULL = "ftrace_full"  # armed at the guest's "ring is full" hook
    FTRACE_DRAIN = "ftrace_drain"  # record: the ring's unread entries
    VDSO_IMAGE = "vdso_image"  # record: a process's vDSO ELF image, found through its auxv
    VDSO_CALL = "vdso_call"  # armed at the vDSO's functions once its image is read
    AGENT_ERROR = "agent_error"  # record: a probe's handler raised


class Mode(StrEnum):
    """default: ~2 stops per syscall, the rest reconstructed; exhaustive: stop at every site."""

    DEFAULT = "default"
    EXHAUSTIVE = "exhaustive"


@dataclass(frozen=True)
class AgentProbe:
    """One breakpoint for the agent: where, what kind, and what its handler needs to know."""

    addr: int
    kind: ProbeKind
    extra: tuple[tuple[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"addr": self.addr, "kind": str(self.kind), **dict(self.extra)}


class PlanError(Exception):
    """The kernel image lacks what a probe needs."""
