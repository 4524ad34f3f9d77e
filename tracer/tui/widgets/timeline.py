"""The timeline: one row per event, drawn a line at a time from pages of the trace source."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from tracer.events import Event
from tracer.tui.keys import motion_bindings
from tracer.tui.view_models.rows import TimelineRow
from tracer.tui.view_models.timeline import TimelineRows

TIME_WIDTH = 10
CPU_WIDTH = 3
PROCESS_WIDTH = 13
KIND_WIDTH = 7
SWAPGS_MARK = "⇄"  # the crossing's swapgs (GS_BASE <-> KERNEL_GS_BASE), folded into its row
LANE_MARK = "·"  # a CPU lane where the row's event did not happen
CPU_COLOURS = 4  # timeline--cpu-0..3: a CPU's colour is its number modulo this
ROW_STYLES = (
    "entry", "exit", "error", "msr", "segbase", "process", "interrupt", "func", "gap", "note",
    "warning",
)  # fmt: skip


def header_text(width: int, cpu_width: int = CPU_WIDTH) -> str:
    text = (
        f" {'time s':>{TIME_WIDTH}} {'cpu':<{cpu_width}} {'process':<{PROCESS_WIDTH}} "
        f"{'kind':<{KIND_WIDTH}} summary"
    )
    return text[:width]


def lane_width(cpus: list[int]) -> int:
    """Columns of one CPU's lane: its number and a space."""
    return len(str(max(cpus, default=0))) + 1


def cpu_column_width(cpus: list[int]) -> int:
    """The CPU column: a lane per CPU when the trace has several, else just the number."""
    if len(cpus) < 2:
        return CPU_WIDTH
    return max(CPU_WIDTH, lane_width(cpus) * len(cpus) - 1)


class TimelineHeader(Static):
    """Column titles above the timeline."""

    cpu_width = CPU_WIDTH

    def set_cpu_width(self, cpu_width: int) -> None:
        if cpu_width != self.cpu_width:
            self.cpu_width = cpu_width
            self.update(header_text(self.size.width, cpu_width))

    def on_resize(self) -> None:
        self.update(header_text(self.size.width, self.cpu_width))


class Timeline(ScrollView, can_focus=True):
    """Every event of the (filtered) trace; the cursor row is the selected moment."""

    COMPONENT_CLASSES = {
        "timeline--cursor",
        "timeline--mark",
        "timeline--flag",
        "timeline--dim",
        *(f"timeline--{style}" for style in ROW_STYLES),
        *(f"timeline--cpu-{n}" for n in range(CPU_COLOURS)),
    }

    BINDINGS = motion_bindings(
        down="cursor_down",
        up="cursor_up",
        first="first",
        last="last",
        page_down="page_down",
        page_up="page_up",
        half_down="half_down",
        half_up="half_up",
    )

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class Selected(Message):
        """The cursor moved to another event."""

        def __init__(self, timeline: Timeline, index: int, event: Event) -> None:
            super().__init__()
            self.timeline = timeline
            self.index = index
            self.event = event

        @property
        def control(self) -> Timeline:
            return self.timeline

    def __init__(self, rows: TimelineRows, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows = rows
        self.marks: dict[int, str] = {}  # seq -> bookmark letter
        self.violations: set[int] = set()  # seqs the checker found something at
        self.follow = False  # live: keep the cursor on the newest event
        self.summary_offset = 0  # columns of the summary scrolled away (h/l)
        self.cpu_lanes: list[int] = []  # the trace's CPUs: with two or more, a lane each
        self._growing = False
        self._selected_seq: int | None = None

    # Data.

    def set_rows(self, rows: TimelineRows, keep_seq: int | None = None) -> None:
        """Show another view of the trace (a new filter); stay near `keep_seq` if given."""
        self.rows = rows
        self._selected_seq = None
        self._resize_virtual()
        index = rows.index_of(keep_seq) if keep_seq is not None else None
        self.cursor = index if index is not None else 0
        self.refresh()

    def grew(self) -> None:
        """The rows' source has more events (live capture, or a filter scan found more)."""
        old = self.virtual_size.height
        self.rows.grew()
        self._resize_virtual()
        if self.follow and self.rows.count():
            self._growing = True
            try:
                self.cursor = self.rows.count() - 1
            finally:
                self._growing = False
        elif old == 0 and self.rows.count():
            self.cursor = 0
        self.refresh()

    def _resize_virtual(self) -> None:
        self.virtual_size = Size(self.size.width, self.rows.count())

    def on_resize(self) -> None:
        self._resize_virtual()

    @property
    def selected_event(self) -> Event | None:
        return self.rows.event(self.cursor)

    def select_seq(self, seq: int) -> bool:
        """Put the cursor on `seq` (or the nearest row after it); False if the view is empty.

        A row outside the view lands in its middle, with context on both sides."""
        index = self.rows.index_of(seq, nearest=True)
        if index is None:
            return False
        height = self.scrollable_content_region.height
        top = int(self.scroll_y)
        if height and not top <= index < top + height:
            self.scroll_to(y=max(0, index - height // 2), animate=False, immediate=True)
        self.cursor = index
        return True

    # Cursor.

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, self.rows.count() - 1))

    def watch_cursor(self, old: int, new: int) -> None:
        if not self._growing and new != self.rows.count() - 1:
            self.follow = False  # the user moved away from the newest event
        self._scroll_cursor_into_view()
        self.refresh()
        event = self.rows.event(new)
        if event is not None and event.seq != self._selected_seq:
            self._selected_seq = event.seq
            self.post_message(self.Selected(self, new, event))

    def _scroll_cursor_into_view(self) -> None:
        height = self.scrollable_content_region.height or 1
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    @property
    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height)

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = self.rows.count() - 1

    def action_page_down(self) -> None:
        self.cursor += self._page

    def action_page_up(self) -> None:
        self.cursor -= self._page

    def action_half_down(self) -> None:
        self.cursor += self._page // 2 or 1

    def action_half_up(self) -> None:
        self.cursor -= self._page // 2 or 1

    def set_cpu_lanes(self, cpus: list[int]) -> bool:
        """The trace's CPUs (they grow in a live capture); True if the column changed."""
        if cpus == self.cpu_lanes:
            return False
        self.cpu_lanes = list(cpus)
        self.refresh()
        return True

    def scroll_summary(self, delta: int) -> None:
        """Long strace lines: move the summary column left or right (the rest stays)."""
        self.summary_offset = max(0, self.summary_offset + delta)
        self.refresh()

    # Drawing.

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_y) + y
        width = self.scrollable_content_region.width or self.size.width
        found = self.rows.row(index)
        if found is None:
            return Strip.blank(width, self.rich_style)
        _, row = found
        segments = self._segments(row, width)
        if index == self.cursor:
            cursor = self.get_component_rich_style("timeline--cursor")
            segments = list(Segment.apply_style(segments, post_style=cursor))
            return Strip(segments).adjust_cell_length(width, self.rich_style + cursor)
        return Strip(segments).adjust_cell_length(width, self.rich_style)

    @staticmethod
    def _kind(row: TimelineRow, kind_style: Style, swapgs_style: Style) -> list[Segment]:
        """The kind column; a crossing holding folded swapgs rows ends with SWAPGS_MARK."""
        if not row.swapgs:
            return [Segment(f"{row.kind:<{KIND_WIDTH}} ", kind_style)]
        return [
            Segment(f"{row.kind:<{KIND_WIDTH - 1}}", kind_style),
            Segment(SWAPGS_MARK, swapgs_style),
            Segment(" ", kind_style),
        ]

    def _cpu(self, row: TimelineRow, base: Style, dim: Style) -> list[Segment]:
        """The CPU column: the number in the CPU's colour, in its own lane when the trace has
        several CPUs, so each CPU's events read as a column of their own."""
        lanes = self.cpu_lanes
        if len(lanes) < 2:
            return [Segment(f"{row.cpu:<{CPU_WIDTH}} ", base)]
        colour = base
        if row.cpu.isdigit():
            colour += self.get_component_rich_style(f"timeline--cpu-{int(row.cpu) % CPU_COLOURS}")
        each = lane_width(lanes)
        segments = [
            Segment(f"{cpu:<{each}}", colour) if str(cpu) == row.cpu
            else Segment(f"{LANE_MARK:<{each}}", dim)
            for cpu in lanes
        ]  # fmt: skip
        used = each * len(lanes)
        segments.append(Segment(" " * (cpu_column_width(lanes) + 1 - used), base))
        return segments

    def _segments(self, row: TimelineRow, width: int) -> list[Segment]:
        style = self.get_component_rich_style
        base = self.rich_style
        kind_style = base + style(f"timeline--{row.style}")
        dim = base + style("timeline--dim")
        mark = self.marks.get(row.seq)
        if mark is not None:
            flag = Segment(mark, base + style("timeline--mark"))
        elif row.flagged or row.seq in self.violations:
            flag = Segment("!", base + style("timeline--flag"))
        else:
            flag = Segment(" ", base)
        process = row.process[:PROCESS_WIDTH]
        fixed = [
            flag,
            Segment(f"{row.time:>{TIME_WIDTH}} ", dim),
            *self._cpu(row, base, dim),
            Segment(f"{process:<{PROCESS_WIDTH}} ", base),
            *self._kind(row, kind_style, base + style("timeline--segbase")),
        ]
        used = sum(segment.cell_length for segment in fixed)
        summary = row.summary[self.summary_offset :][: max(0, width - used)]
        return [*fixed, Segment(summary, kind_style)]
