"""The findings tab: `tracer check`'s violations (tracer.analysis.checks) and what the capture
flagged itself (gaps, warnings), found a chunk at a time so a long trace stays responsive."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

from tracer.analysis.checks import Checker, Finding
from tracer.events import Event
from tracer.store.api import TraceSource
from tracer.tui.view_models.rows import is_flagged, summarize

CHUNK = 2048


@dataclass(frozen=True, slots=True)
class FindingLine:
    seq: int
    rule: str  # a checker rule, or "gap" / "warning" / "flagged" for what the capture said
    message: str
    where: str = ""  # "cpu0 pid 1 at do_syscall_64+0x12"


def _where(cpu: int | None, pid: int | None, pc: int | None, function: str | None) -> str:
    parts = []
    if cpu is not None:
        parts.append(f"cpu{cpu}")
    if pid is not None:
        parts.append(f"pid {pid}")
    if pc is not None:
        parts.append(f"at {function or hex(pc)}")
    return " ".join(parts)


def from_finding(finding: Finding) -> FindingLine:
    where = _where(finding.cpu, finding.pid, finding.pc, finding.function)
    return FindingLine(finding.seq, finding.rule, finding.message, where)


def from_flagged(event: Event) -> FindingLine:
    text, style = summarize(event)
    rule = {"gap": "gap", "warning": "warning"}.get(style, "flagged")
    return FindingLine(
        event.seq,
        rule,
        text,
        _where(getattr(event, "cpu", None), getattr(event, "pid", None), None, None),
    )


class FindingsScan:
    """Runs the checker over a source in chunks; `lines` in seq order, one per seq."""

    def __init__(self, source: TraceSource, checker: Checker) -> None:
        self.source = source
        self.checker = checker
        self.lines: list[FindingLine] = []
        self.seqs: list[int] = []
        self.next_seq = 0
        self.done = False

    def feed(self, events: list[Event]) -> None:
        """Check events that follow the ones already checked."""
        found: dict[int, FindingLine] = {}
        for finding in self.checker.check(events):
            found.setdefault(finding.seq, from_finding(finding))
        for event in events:
            if event.seq not in found and is_flagged(event):
                found[event.seq] = from_flagged(event)
        for seq in sorted(found):
            if not self.seqs or seq > self.seqs[-1]:
                self.seqs.append(seq)
                self.lines.append(found[seq])
        if events:
            self.next_seq = events[-1].seq + 1

    def step(self, limit: int = CHUNK) -> bool:
        chunk = list(self.source.events(self.next_seq, limit))
        self.feed(chunk)
        self.done = len(chunk) < limit
        return self.done

    def steps(self) -> Iterator[float]:
        """Step to the end, yielding the fraction checked (for a sliced worker)."""
        total = max(1, self.source.count())
        checked = 0
        while not self.step():
            checked += CHUNK
            yield min(1.0, checked / total)

    def next_after(self, seq: int, forward: bool) -> int | None:
        """The seq of the next finding after (or before) `seq`."""
        if forward:
            at = bisect.bisect_right(self.seqs, seq)
            return self.seqs[at] if at < len(self.seqs) else None
        at = bisect.bisect_left(self.seqs, seq)
        return self.seqs[at - 1] if at else None
