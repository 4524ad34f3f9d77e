"""The findings tab: `tracer check`'s violations (tracer.analysis.checks) and what the capture
flagged itself (gaps, warnings), found a chunk at a time so a long trace stays responsive."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

from tracer.analysis.checks import Checker, Finding, render
from tracer.events import Event, EventKind
from tracer.store.analysis import (
    ALWAYS,
    FS_EVIDENCE,
    FS_NO_EVIDENCE,
    STAR,
    StoredAnalysis,
    raw_finding,
)
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
        self._load(self.trace.analysis)
        self.done = True

    def _load(self, analysis: StoredAnalysis) -> None:
        """One line per seq (the first finding there), with what the capture flagged itself
        where the checker found nothing."""
        facts, symbolize = self.checker.facts, self.checker.symbolize
        classes = analysis.seqs
        chosen: list[Any] = [classes.get(ALWAYS, ())]
        if facts.uses_fs:  # kernel-on-app-tcb shows for a kernel that uses FS (checks.render)
            chosen.append(classes.get(FS_EVIDENCE, ()))
            if facts.uses_fs_always:
                chosen.append(classes.get(FS_NO_EVIDENCE, ()))
        chosen.append(
            [
                seq
                for seq in classes.get(STAR, ())
                if _first_line(analysis.rows_at(seq), facts, symbolize) is not None
            ]
        )
        flagged = {
            event.seq: from_flagged(event)
            for event in self.source.events(kinds=FLAGGED_KINDS)
            if is_flagged(event)
        }
        chosen.append(list(flagged))
        parts = [part for part in chosen if len(part)]
        # One part (the common case) is sorted and unique already.
        self.seqs = list(parts[0]) if len(parts) == 1 else sorted(set().union(*parts))
        self.lines = _Lines(self.seqs, flagged, analysis.rows_at, facts, symbolize)  # type: ignore[assignment]
        if self.seqs:
            self.next_seq = self.seqs[-1] + 1


def _first_line(rows: list[Any], facts: Any, symbolize: Any) -> FindingLine | None:
    for row in rows:
        found = render(raw_finding(row), facts, symbolize)
        if found:
            return from_finding(found[0])
    return None


class _Lines(Sequence[FindingLine]):
    """Finding lines made when read: a long trace can have a finding at most syscalls."""

    def __init__(
        self,
        seqs: list[int],
        flagged: dict[int, FindingLine],
        rows_at: Callable[[int], list[Any]],
        facts: Any,
        symbolize: Any,
    ) -> None:
        self._seqs = seqs
        self._flagged = flagged
        self._rows_at = rows_at
        self._facts = facts
        self._symbolize = symbolize

    def __len__(self) -> int:
        return len(self._seqs)

    @overload
    def __getitem__(self, index: int) -> FindingLine: ...
    @overload
    def __getitem__(self, index: slice) -> list[FindingLine]: ...
    def __getitem__(self, index: int | slice) -> FindingLine | list[FindingLine]:
        if isinstance(index, slice):
            return [self._line(seq) for seq in self._seqs[index]]
        return self._line(self._seqs[index])

    def _line(self, seq: int) -> FindingLine:
        line = _first_line(self._rows_at(seq), self._facts, self._symbolize)
        return line if line is not None else self._flagged[seq]
