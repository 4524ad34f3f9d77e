"""The findings tab: `tracer check`'s violations (tracer.analysis.checks) and what the capture
flagged itself (gaps, warnings), found a chunk at a time so a long trace stays responsive."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

from tracer.analysis.checks import Checker, Finding, render
from tracer.analysis.rules import KERNEL_ON_APP_TCB, STAR_GDT_MISMATCH
from tracer.events import Event, EventKind
from tracer.store.analysis import raw_finding
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


FLAGGED_KINDS = (EventKind.GAP, EventKind.NOTE, EventKind.TLS_SNAPSHOT)
"""The kinds `is_flagged` can flag that the checker does not already name (an unexplained
base change is its `unknown-base-change`)."""


class StoredFindingsScan(FindingsScan):
    """The findings of a trace's analysis (stored in its file, or made once by `analysis`):
    rendered with the checker's kernel facts, a line at a time as the panel asks for them."""

    def __init__(self, source: TraceSource, checker: Checker, trace: Any) -> None:
        super().__init__(source, checker)
        self.trace = trace  # an OpenTrace: analysis_steps() and, once done, analysis

    def step(self, limit: int = CHUNK) -> bool:
        for _ in self.steps():
            pass
        return True

    def steps(self) -> Iterator[float]:
        if self.done:
            return
        yield from self.trace.analysis_steps()
        self._load(self.trace.analysis.finding_rows)
        self.done = True

    def _load(self, rows: list[Any]) -> None:
        """One line per seq (the first finding there), with what the capture flagged itself
        where the checker found nothing."""
        facts, symbolize = self.checker.facts, self.checker.symbolize
        entries: dict[int, Any] = {}
        for row in rows:
            seq, rule = row[0], row[1]
            if seq in entries:
                continue
            if rule in _CONDITIONAL:  # may render to nothing with this kernel's facts
                found = render(raw_finding(row), facts, symbolize)
                if found:
                    entries[seq] = from_finding(found[0])
            else:
                entries[seq] = row
        for event in self.source.events(kinds=FLAGGED_KINDS):
            if event.seq not in entries and is_flagged(event):
                entries[event.seq] = from_flagged(event)
        self.seqs = sorted(entries)
        self.lines = _Lines([entries[seq] for seq in self.seqs], facts, symbolize)  # type: ignore[assignment]
        if self.seqs:
            self.next_seq = self.seqs[-1] + 1


_CONDITIONAL = frozenset({KERNEL_ON_APP_TCB, STAR_GDT_MISMATCH})


class _Lines(Sequence[FindingLine]):
    """Finding lines made when read: a long trace can have a finding at most syscalls."""

    def __init__(self, entries: list[Any], facts: Any, symbolize: Any) -> None:
        self._entries = entries
        self._facts = facts
        self._symbolize = symbolize

    def __len__(self) -> int:
        return len(self._entries)

    @overload
    def __getitem__(self, index: int) -> FindingLine: ...
    @overload
    def __getitem__(self, index: slice) -> list[FindingLine]: ...
    def __getitem__(self, index: int | slice) -> FindingLine | list[FindingLine]:
        if isinstance(index, slice):
            return [self._line(entry) for entry in self._entries[index]]
        return self._line(self._entries[index])

    def _line(self, entry: Any) -> FindingLine:
        if isinstance(entry, FindingLine):
            return entry
        return from_finding(render(raw_finding(entry), self._facts, self._symbolize)[0])
