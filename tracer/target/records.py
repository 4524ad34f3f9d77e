"""What the target reports, as typed records: agent hits, agent errors, real stops."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ProbeHit:
    """One record from the agent: what a probe saw when the guest passed it."""

    seq: int
    time_ns: int
    probe: str
    pc: int
    cpu: int
    cr3: int
    bases: tuple[int, ...]
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AgentError:
    """The agent could not handle a hit (or a record on its pipe was unreadable)."""

    kind: str
    error: str
    gap: bool = False  # not a failure: the agent saw events go unrecorded, `error` says which

    def as_dict(self) -> dict[str, Any]:
        return {"probe": "agent_error", "kind": self.kind, "error": self.error, "gap": self.gap}


AgentRecord = ProbeHit | AgentError


@dataclass(frozen=True, slots=True)
class StopEvent:
    """The guest really stopped (an MI *stopped), or the target ended: why, and where."""

    reason: str
    pc: int | None
    detail: str = ""

    @property
    def ended(self) -> bool:
        """The target is gone (gdb reports the inferior exited)."""
        return self.reason in EXITED

    @property
    def interrupted(self) -> bool:
        """An interrupt the tracer sent (SIGINT), not a probe's stop."""
        return self.detail == "SIGINT" or self.reason == "signal-received"


EXITED = ("exited", "exited-normally", "exited-signalled")

_HIT_KEYS = ("seq", "t", "probe", "pc", "cpu", "cr3", "bases")


def parse_record(line: bytes) -> AgentRecord:
    """One agent line: a ProbeHit, or an AgentError for agent-side failures."""
    record = json.loads(line)
    if not isinstance(record, dict):
        raise ValueError(f"not a JSON object: {line[:60]!r}")
    if "seq" not in record:
        return AgentError(
            str(record.get("kind", "")),
            str(record.get("error", record)),
            record.get("gap") is True,
        )
    fields = {k: v for k, v in record.items() if k not in _HIT_KEYS}
    return ProbeHit(
        seq=record["seq"],
        time_ns=record["t"],
        probe=record["probe"],
        pc=record["pc"],
        cpu=record["cpu"],
        cr3=record["cr3"],
        bases=tuple(record["bases"]),
        fields=fields,
    )
