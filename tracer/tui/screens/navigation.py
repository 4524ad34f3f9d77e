"""The main screen's moves through the trace: go to, jump by kind, search, filter, bookmarks.

A mixin of `MainScreen`, kept apart so each file stays about one thing; it works on the
screen's timeline and status bar and starts the same sliced workers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from textual import work

from tracer.events import Event, SyscallEntry, SyscallExit
from tracer.tui.screens.prompt import LetterScreen, PromptScreen
from tracer.tui.view_models.filters import (
    SYSCALL_KINDS,
    FilterError,
    TextMatcher,
    ViewFilter,
    next_cpu,
    parse_filter,
)
from tracer.tui.view_models.jumps import JUMPS, find_jump, next_finding_row
from tracer.tui.view_models.timeline import TimelineRows

if TYPE_CHECKING:
    from textual.app import App

    from tracer.tui.open_trace import OpenTrace
    from tracer.tui.view_models.findings import FindingsScan
    from tracer.tui.widgets.status import StatusBar
    from tracer.tui.widgets.timeline import Timeline


class NavigationActions:
    if TYPE_CHECKING:
        app: App[None]
        trace: OpenTrace
        timeline: Timeline
        status: StatusBar
        view_filter: ViewFilter
        search: TextMatcher | None
        marks: dict[str, int]
        last_jump_from: int | None
        findings: FindingsScan | None
        selected: Event | None

        def say(self, message: str) -> None: ...
        def update_bar(self) -> None: ...
        def update_position(self) -> None: ...
        def show_active_pane(self) -> None: ...
        def rows_for(self, view_filter: ViewFilter) -> TimelineRows: ...

        run_sliced: Callable[..., Awaitable[Any]]  # MainScreen.run_sliced

    # Moving.

    def action_cursor(self, how: str) -> None:
        getattr(self.timeline, f"action_{how}")()

    def go_to_seq(self, seq: int) -> None:
        here = self.selected.seq if self.selected else None
        if not self.timeline.select_seq(seq):
            self.say(f"#{seq} is not in this view")
            return
        if here is not None and here != seq:
            self.last_jump_from = here
        landed = self.timeline.selected_event
        if landed is not None and landed.seq != seq:
            self.say(f"#{seq} is hidden by the filter; at #{landed.seq}")

    def action_goto_prompt(self) -> None:
        def check(text: str) -> str | None:
            return None if text.strip().lstrip("#").isdigit() else "an event number (seq)"

        def done(text: str | None) -> None:
            if text:
                self.go_to_seq(int(text.strip().lstrip("#")))

        self.app.push_screen(PromptScreen("go to event #", hint="seq number", check=check), done)

    def action_pair(self) -> None:
        event = self.selected
        if isinstance(event, SyscallExit) and event.entry_seq is not None:
            self.go_to_seq(event.entry_seq)
        elif isinstance(event, SyscallEntry):
            from tracer.tui.view_models.ptregs import find_syscall

            _, exit_, _ = find_syscall(self.trace.source, event)
            if exit_ is None:
                self.say("no exit recorded for this syscall")
            else:
                self.go_to_seq(exit_.seq)
        else:
            self.say("% pairs a syscall's entry and exit")

    @work(exclusive=True, group="search")
    async def action_jump(self, what: str, direction: int) -> None:
        start = self.timeline.cursor
        way = "next" if direction > 0 else "previous"
        checked = what == "flagged" and self.findings is not None and self.findings.done
        found = None
        if not checked:  # the checker has not seen it all: look for what the capture flagged
            marks = self.trace.jump_marks()
            steps = find_jump(self.timeline.rows, start, direction > 0, JUMPS[what], marks)
            found = await self.run_sliced(steps, f"looking for the {way} {what}")
        if what == "flagged":
            found = await self._nearer_finding(found, direction > 0)
        if found is None:
            self.say(f"no {way} {what} in this view")
        else:
            self.say("")
            self.timeline.cursor = found

    async def _nearer_finding(self, found: int | None, forward: bool) -> int | None:
        """Between a row found by kind and the checker's next finding in view, the nearer."""
        here = self.timeline.selected_event
        if self.findings is None or here is None:
            return found
        steps = next_finding_row(self.timeline.rows, self.findings.seqs, here.seq, forward)
        row = await self.run_sliced(steps, "looking for a finding")
        if row is None:
            return found
        if found is None:
            return row
        return min(found, row) if forward else max(found, row)

    # Search.

    def action_search_prompt(self) -> None:
        def check(text: str) -> str | None:
            try:
                TextMatcher.parse(text)
            except FilterError as exc:
                return str(exc)
            return None

        def done(text: str | None) -> None:
            if text:
                self.search = TextMatcher.parse(text)
                self.run_search(1)

        value = str(self.search) if self.search else ""
        self.app.push_screen(
            PromptScreen(
                "search /", value=value, hint="text, or /regex/; n and N repeat", check=check
            ),
            done,
        )

    def action_search_again(self, direction: int) -> None:
        if self.search is None:
            self.say("no search yet: / to search")
            return
        self.run_search(direction)

    @work(exclusive=True, group="search")
    async def run_search(self, direction: int) -> None:
        matcher = self.search
        assert matcher is not None
        steps = self.timeline.rows.search(
            self.timeline.cursor, direction > 0, lambda event, row: matcher.matches(row.text)
        )
        found = await self.run_sliced(steps, f"searching {matcher}")
        if found is None:
            self.say(f"{matcher}: no {'more' if direction > 0 else 'earlier'} matches")
        else:
            self.say(f"{matcher}: found")
            self.timeline.cursor = found

    # Filters.

    def action_filter_prompt(self) -> None:
        def check(text: str) -> str | None:
            try:
                parse_filter(text)
            except FilterError as exc:
                return str(exc)
            return None

        def done(text: str | None) -> None:
            if text is not None:
                self.apply_filter(parse_filter(text))

        self.app.push_screen(
            PromptScreen(
                "filter",
                value=self.view_filter.describe(),
                check=check,
                hint="kind:syscall,msr pid:N cpu:N sys:write trace=brk +swapgs text /regex/",
            ),
            done,
        )

    def action_clear_filter(self) -> None:
        self.apply_filter(ViewFilter(show_swapgs=self.view_filter.show_swapgs))

    def action_toggle_filter(self, what: str) -> None:
        event = self.selected
        current = self.view_filter
        if what == "syscall":
            self.apply_filter(
                current.replace(kinds=None if current.kinds == SYSCALL_KINDS else SYSCALL_KINDS)
            )
            return
        value = getattr(event, what, None) if event is not None else None
        if getattr(current, what) is not None:
            self.apply_filter(current.replace(**{what: None}))
        elif value is None:
            self.say(f"this event has no {what}")
        else:
            self.apply_filter(current.replace(**{what: value}))

    def action_cycle_cpu(self) -> None:
        cpus = self.trace.source.cpus()
        if not cpus:
            self.say("no event of this trace names a CPU")
            return
        cpu = next_cpu(cpus, self.view_filter.cpu)
        self.apply_filter(self.view_filter.replace(cpu=cpu))
        if not self.status.message:
            self.say("all CPUs" if cpu is None else f"only CPU {cpu}")

    def action_toggle_swapgs(self) -> None:
        shown = not self.view_filter.show_swapgs
        self.apply_filter(self.view_filter.replace(show_swapgs=shown))
        self.show_active_pane()  # the graph's swapgs comments follow
        if not self.status.message:
            self.say("inferred swapgs rows shown" if shown else "inferred swapgs rows folded (⇄)")

    def apply_filter(self, view_filter: ViewFilter) -> None:
        keep = self.selected.seq if self.selected else None
        self.view_filter = view_filter
        rows = self.rows_for(view_filter)
        self.timeline.set_rows(rows, keep)
        self.update_bar()
        self.update_position()
        if rows.scan is not None:
            self.run_filter_scan(rows, keep)
        elif rows.count() == 0:
            self.say("nothing matches this filter")
        else:
            self.say("")

    @work(exclusive=True, group="filter")
    async def run_filter_scan(self, rows: TimelineRows, keep: int | None) -> None:
        scan = rows.scan
        assert scan is not None
        placed = False

        def steps() -> Iterator[float]:
            total = max(1, self.trace.source.count(**scan.view_filter.store_query()))  # type: ignore[arg-type]
            while not scan.step():
                yield min(1.0, scan.examined / total)

        def on_slice() -> None:
            nonlocal placed
            self.timeline.grew()
            if not placed and keep is not None and scan.seqs and scan.seqs[-1] >= keep:
                placed = self.timeline.select_seq(keep)
            self.update_position()

        await self.run_sliced(steps(), "filtering", percent=True, on_slice=on_slice)
        on_slice()
        if not placed and keep is not None:
            self.timeline.select_seq(keep)
        self.say("" if rows.count() else "nothing matches this filter")
        self.update_position()

    # Bookmarks.

    def action_mark_prompt(self) -> None:
        def done(letter: str | None) -> None:
            if letter and letter != "'" and self.selected is not None:
                self.marks[letter] = self.selected.seq
                self.timeline.marks = {seq: name for name, seq in self.marks.items()}
                self.timeline.refresh()
                self.say(f"bookmark {letter} at #{self.selected.seq}")

        self.app.push_screen(LetterScreen("bookmark: press a letter", self.marks), done)

    def action_jump_mark_prompt(self) -> None:
        def done(letter: str | None) -> None:
            if letter == "'":
                if self.last_jump_from is None:
                    self.say("no earlier position")
                else:
                    self.go_to_seq(self.last_jump_from)
            elif letter in self.marks:
                self.go_to_seq(self.marks[letter])
            elif letter:
                self.say(f"no bookmark {letter}")

        self.app.push_screen(
            LetterScreen("jump to bookmark: a letter, or ' to go back", self.marks), done
        )
