"""A trace's analysis in one pass: owners by moment and the checks' raw findings.

Neither depends on the kernel image, so a trace writer can compute them as events arrive and
store them; a reader renders the findings with the kernel's facts (`checks.render`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tracer.analysis.owner_history import OwnerHistory
from tracer.analysis.rules import RawFinding, TraceRules
from tracer.events import Event

ANALYSIS_VERSION = 1
"""Bumped whenever the rules or the owner labels change: stored analyses of another version
are computed again."""


@dataclass
class TraceAnalysis:
    """Feed every event in seq order. `keep_all` keeps every raw finding in `findings`;
    without it a writer takes what is new (`take_new`) after each batch."""

    keep_all: bool = True
    owners: OwnerHistory = field(default_factory=OwnerHistory)
    rules: TraceRules = field(default_factory=TraceRules)
    findings: list[RawFinding] = field(default_factory=list)
    events: int = 0
    through_seq: int = -1

    def __post_init__(self) -> None:
        self.owners.keep_new = not self.keep_all

    def feed(self, events: Iterable[Event]) -> None:
        for event in events:
            self.feed_one(event)

    def feed_one(self, event: Event) -> None:
        # The owner index learns from the kinds a viewer's scan of OWNER_KINDS would see.
        self.owners.learn((event,), all_kinds=False)
        self.findings.extend(self.rules.scan((event,)))
        self.events += 1
        self.through_seq = event.seq

    def take_new(self) -> tuple[list[tuple[int | None, int, int, str]], list[RawFinding]]:
        """Owner rows and raw findings learned since the last call (keep_all=False)."""
        findings, self.findings = self.findings, []
        return self.owners.take_new(), findings
