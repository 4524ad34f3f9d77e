"""The app driven by key presses (Textual's pilot), on the demo trace and the recorded one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import Input, TabbedContent

from tests.tui.conftest import KERNEL, RECORDED, settle
from tests.tui.demo_trace import TCB
from tracer.event_filter import is_inferred_swapgs
from tracer.events import EventKind
from tracer.store import MemoryTrace, TraceReader
from tracer.tui.app import TracerApp
from tracer.tui.keys import ACTIONS
from tracer.tui.open_trace import OpenTrace
from tracer.tui.screens.help import HelpScreen
from tracer.tui.screens.main import MainScreen


def text_of(widget) -> str:  # type: ignore[no-untyped-def]
    """What a Static (or a pane's body) shows, as plain text."""
    from rich.console import Console

    static = widget.body if hasattr(widget, "body") else widget
    console = Console(width=200, record=True, color_system=None, file=open(os.devnull, "w"))
    console.print(static.content)
    return console.export_text()


def app_for(source, path: Path | None = None, kernel: Path | None = KERNEL) -> TracerApp:  # type: ignore[no-untyped-def]
    return TracerApp(OpenTrace(source, path, kernel=kernel))


async def press(pilot, *keys: str) -> None:  # type: ignore[no-untyped-def]
    for key in keys:
        await pilot.press(key)
    await settle(pilot)


def screen_of(app: TracerApp) -> MainScreen:
    assert isinstance(app.screen, MainScreen)
    return app.screen


def type_keys(text: str) -> list[str]:
    names = {
        " ": "space",
        "/": "slash",
        ":": "colon",
        ",": "comma",
        "|": "vertical_line",
        "(": "left_parenthesis",
        ")": "right_parenthesis",
        "=": "equals_sign",
        "-": "minus",
        "'": "apostrophe",
        "\\": "backslash",
        ".": "full_stop",
    }
    return [names.get(char, char) for char in text]


async def test_opens_on_the_first_event_and_moves_like_less(demo_source) -> None:  # type: ignore[no-untyped-def]
    app = app_for(demo_source)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        assert screen.selected.seq == 0
        await press(pilot, "j", "j", "down")
        assert screen.selected.seq == 3
        await press(pilot, "k")
        assert screen.selected.seq == 2
        await press(pilot, "G")
        assert screen.selected.seq == len(demo_source) - 1
        await press(pilot, "g")
        assert screen.selected.seq == 0
        await press(pilot, "pagedown")
        page = screen.selected.seq
        assert page > 3
        await press(pilot, "ctrl+u")
        assert 0 < screen.selected.seq < page
        await press(pilot, "ctrl+d", "pageup")
        assert "row" in str(screen.status.position)


async def test_every_pane_follows_the_selection(demo_source) -> None:  # type: ignore[no-untyped-def]
    app = app_for(demo_source)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        screen.go_to_seq(53)  # getpid of pid 2, after a context switch
        await settle(pilot)
        cpu = text_of(screen.panes["cpu"])
        assert f"{TCB[2]:016x}" in cpu and "app-tcb[tls-musl:2]" in cpu
        assert "percpu[cpu0]" in cpu and "SCE|LME|LMA|NXE" in cpu
        assert "do_syscall_64" not in cpu and "entry_SYSCALL_64+0x5f" in cpu
        await press(pilot, "2")
        assert "getpid() = 2" in text_of(screen.panes["ptregs"])
        await press(pilot, "3")
        tls = text_of(screen.panes["tls"])
        assert "app-tcb[tls-musl:2]" in tls and "yes: fs:0" in tls and "0x2a (42)" in tls
        await press(pilot, "4")
        entry = screen.panes["entry"]
        assert entry.listing.here is not None
        assert "PROBE syscall entry" in entry.listing.lines[entry.listing.here].plain
        await press(pilot, "5")
        assert screen.query_one(TabbedContent).active == "tab-console"
        assert "no guest console" in text_of(screen.panes["console"].head)
        await press(pilot, "7")
        screen.go_to_seq(44)
        await settle(pilot)
        graph = screen.panes["graph"]
        assert "do_syscall_64+0x40();" in graph.listing.lines[graph.listing.here].plain
        await press(pilot, "1")
        assert screen.query_one(TabbedContent).active == "tab-cpu"


async def test_findings_list_jumps_to_the_event(demo_source) -> None:  # type: ignore[no-untyped-def]
    app = app_for(demo_source)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        await press(pilot, "6")
        findings = screen.panes["findings"]
        # What tracer check finds (its rules are its own) plus what the capture flagged:
        # 65 (a base change of unknown cause), the gap 66 and the warning 67.
        expected = screen.findings.seqs
        assert {65, 66, 67} <= set(expected) and findings.seqs == expected
        findings.listing.focus()
        await press(pilot, "j", "enter")
        assert screen.selected.seq == expected[1]


async def test_jumps_by_kind_and_between_entry_and_exit(demo_source) -> None:  # type: ignore[no-untyped-def]
    app = app_for(demo_source)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        await press(pilot, "s")
        assert screen.selected.seq == 10
        await press(pilot, "s", "s")
        assert screen.selected.seq == 27
        await press(pilot, "S")
        assert screen.selected.seq == 19
        await press(pilot, "percent_sign")
        assert screen.selected.seq == 23
        await press(pilot, "percent_sign")
        assert screen.selected.seq == 19
        await press(pilot, "t")
        assert screen.selected.seq == 20
        await press(pilot, "T")  # the swapgs changes before it are folded into crossings
        assert screen.selected.seq == 20
        await press(pilot, "i", "T")  # shown again: the inferred KERNEL_GS_BASE swap
        assert screen.selected.seq == 18
        await press(pilot, "i")
        found = screen.findings.seqs  # the checker's findings and what the capture flagged
        assert len(found) >= 3
        await press(pilot, "v")
        assert screen.selected.seq == found[0]
        await press(pilot, "v", "v")
        assert screen.selected.seq == found[2]
        await press(pilot, "V", "V")
        assert screen.selected.seq == found[0]
        await press(pilot, "V")
        assert screen.selected.seq == found[0] and "no previous flagged" in screen.status.message
        await press(pilot, "G", "V")
        assert screen.selected.seq == found[-1]
        await press(pilot, "colon", *type_keys("66"), "enter", "w")
        assert screen.selected.seq == 66 and "no next msr" in screen.status.message
        await press(pilot, "W")
        assert screen.selected.seq == 16


async def test_search_forward_and_back(demo_source) -> None:  # type: ignore[no-untyped-def]
    app = app_for(demo_source)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        await press(pilot, "slash", *type_keys("write(1"), "enter")
        assert screen.selected.seq == 42
        await press(pilot, "n")
        assert screen.selected.seq == 49  # the exit line repeats the call
        await press(pilot, "n", "N")
        assert screen.selected.seq == 49
        await press(pilot, "slash")
        await press(pilot, *["backspace"] * 10, *type_keys("/2:tls-musl +[a-z]+ +getpid/"), "enter")
        assert screen.selected.seq == 53
        await press(pilot, "n")
        assert screen.selected.seq == 56
        await press(pilot, "n")
        assert "no more matches" in screen.status.message


async def test_filters_from_the_prompt_and_the_toggles(demo_file) -> None:  # type: ignore[no-untyped-def]
    with TraceReader.open(demo_file) as reader:
        app = app_for(reader, demo_file)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = screen_of(app)
            rows = lambda: screen.timeline.rows  # noqa: E731
            await press(pilot, "f", *type_keys("kind:syscall pid:2"), "enter")
            assert rows().count() == reader.count(kinds=["syscall_entry", "syscall_exit"], pid=2)
            assert "kind:syscall_entry,syscall_exit pid:2" in screen.status.view
            await press(pilot, "F")  # everything but the inferred swapgs rows, folded
            folded = sum(is_inferred_swapgs(event) for event in reader.events())
            assert folded and rows().count() == reader.count() - folded
            await press(pilot, "f", *type_keys("sys:write"), "enter")
            seqs = [rows().event(i).seq for i in range(rows().count())]
            assert seqs == [42, 49, 59, 62]
            await press(pilot, "F", "g", "s", "s", "s", "s", "s", "s")  # the getpid of pid 2
            assert screen.selected.seq == 53
            await press(pilot, "p")
            assert screen.view_filter.pid == 2 and screen.selected.seq == 53
            await press(pilot, "y")
            assert screen.view_filter.kinds == {"syscall_entry", "syscall_exit"}
            await press(pilot, "y", "p", "c")
            assert screen.view_filter.cpu == 0 and screen.view_filter.pid is None
            await press(pilot, "c")
            assert screen.view_filter.is_everything
            await press(pilot, "f", *type_keys("pid:nope"), "enter")
            assert "takes a number" in str(app.screen.query_one("#prompt-hint").render())
            await press(pilot, "escape")
            assert isinstance(app.screen, MainScreen)


async def test_a_text_filter_keeps_the_selected_moment(demo_source) -> None:  # type: ignore[no-untyped-def]
    app = app_for(demo_source)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        screen.go_to_seq(36)
        await press(pilot, "f", *type_keys("hello-glibc"), "enter")
        assert screen.selected.seq == 36
        assert all(
            "hello-glibc" in screen.timeline.rows.row(i)[1].text
            for i in range(screen.timeline.rows.count())
        )
        await press(pilot, "f", *type_keys("no such text anywhere"), "enter")
        assert screen.timeline.rows.count() == 0
        assert "nothing matches" in screen.status.message


async def test_bookmarks_and_going_back(demo_source) -> None:  # type: ignore[no-untyped-def]
    app = app_for(demo_source)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        await press(pilot, "j", "j", "j", "m", "a")
        third = screen.timeline.rows.event(3).seq  # the fourth row (swapgs rows fold away)
        assert screen.marks == {"a": third}
        assert screen.timeline.marks == {third: "a"}
        await press(pilot, "G", "apostrophe", "a")
        assert screen.selected.seq == third
        await press(pilot, "apostrophe", "apostrophe")
        assert screen.selected.seq == len(demo_source) - 1
        await press(pilot, "apostrophe", "z")
        assert "no bookmark z" in screen.status.message
        await press(pilot, "colon", *type_keys("36"), "enter")
        assert screen.selected.seq == 36
        await press(pilot, "colon", *type_keys("40"), "enter")  # a folded swapgs row
        assert screen.selected.seq == 42  # its crossing, the next row


async def test_help_lists_every_key_and_closes(demo_source) -> None:  # type: ignore[no-untyped-def]
    app = app_for(demo_source)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        shown = "\n".join(text_of(static) for static in app.screen.query("Static"))
        for action in ACTIONS:
            assert action.title in shown
        await press(pilot, "escape")
        assert isinstance(app.screen, MainScreen)


async def test_the_command_palette_offers_every_action(demo_source) -> None:  # type: ignore[no-untyped-def]
    app = app_for(demo_source)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {a.title for a in ACTIONS if a.palette} <= titles
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Next syscall")
        await command.callback()
        await settle(pilot)
        assert screen_of(app).selected.seq == 10
        await press(pilot, "ctrl+p")
        await press(pilot, *type_keys("next seg"))
        await press(pilot, "enter")
        assert screen_of(app).selected.seq == 20  # arch_prctl's FS (swapgs rows are folded)


async def test_the_recorded_trace_opens_with_its_kernel(recorded) -> None:  # type: ignore[no-untyped-def]
    app = app_for(recorded, RECORDED, kernel=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        assert screen.trace.kernel_path == KERNEL
        await press(pilot, "s", "s")
        cpu = text_of(screen.panes["cpu"])
        assert "app-tcb[hello-musl:1]" in cpu and "entry_SYSCALL_64+0x5f" in cpu
        await press(pilot, "3")
        tls = text_of(screen.panes["tls"])
        assert "hello-musl __thread variables" in tls
        await press(pilot, "G", "S")
        assert screen.selected.kind == EventKind.SYSCALL_ENTRY


async def test_a_live_source_grows_under_the_view(demo_source) -> None:  # type: ignore[no-untyped-def]
    events = list(demo_source.events())
    live = MemoryTrace(events[:10], demo_source.meta)
    app = TracerApp(OpenTrace(live, live=True, kernel=KERNEL))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        folded = [e.seq for e in events if is_inferred_swapgs(e)]
        assert screen.timeline.rows.count() == 10 - sum(seq < 10 for seq in folded)
        live.extend(events[10:])
        screen.trace.add_events(events[10:])
        screen.timeline.grew()
        await press(pilot, "G")
        assert screen.selected.seq == events[-1].seq


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_small_and_large_terminals(demo_source, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    app = app_for(demo_source)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        assert screen.has_class("-wide") == (size[0] >= 150)
        assert screen.timeline.size.height >= 5
        await press(pilot, "2", "G")
        assert screen.selected.seq == len(demo_source) - 1


async def test_the_prompt_input_takes_the_current_filter(demo_source) -> None:  # type: ignore[no-untyped-def]
    app = app_for(demo_source)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "p")
        assert "has no pid" in screen_of(app).status.message  # a note
        await press(pilot, "j", "p", "f")
        assert app.screen.query_one(Input).value == "pid:0"


async def test_enter_in_the_graph_and_the_entry_path_moves_the_timeline(demo_source) -> None:  # type: ignore[no-untyped-def]
    app = app_for(demo_source)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        screen.go_to_seq(44)
        await press(pilot, "7")
        graph = screen.panes["graph"]
        graph.listing.focus()
        await press(pilot, "k", "enter")  # the line above: do_syscall_64() {
        assert screen.selected.seq == 43
        screen.timeline.focus()
        await press(pilot, "g", "4")
        entry = screen.panes["entry"]
        exit_line = next(i for i, line in enumerate(entry._lines) if line.style == "exit")
        entry.listing.focus()
        entry.listing.cursor = exit_line
        await press(pilot, "enter")
        assert screen.selected.kind == EventKind.SYSCALL_EXIT
        assert screen.selected.pc == entry._lines[exit_line].addr


async def test_a_call_in_the_graph_folds_and_unfolds(demo_source) -> None:  # type: ignore[no-untyped-def]
    app = app_for(demo_source)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        screen.go_to_seq(44)
        await press(pilot, "7")
        graph = screen.panes["graph"]
        listing = graph.listing
        listing.focus()
        unfolded = [line.plain for line in listing.lines]
        await press(pilot, "k")  # do_syscall_64() {
        call = listing.cursor
        assert listing.lines[call].plain.endswith("do_syscall_64() {")
        await press(pilot, "o")
        folded = [line.plain for line in listing.lines]
        assert folded[call].endswith("! 150.000 us  |  do_syscall_64() { ... }")
        assert len(folded) == len(unfolded) - 2  # the inner call and the `}` are gone
        assert not any("do_syscall_64+0x40();" in line for line in folded)
        assert listing.cursor == call and listing.here == call  # seq 44 is inside the fold
        assert screen.selected.seq == 44  # folding alone does not move the moment
        await press(pilot, "space")
        assert [line.plain for line in listing.lines] == unfolded
        await press(pilot, "j")
        await press(pilot, "o")  # not a call's opening line: nothing folds
        assert [line.plain for line in listing.lines] == unfolded
        await press(pilot, "k", "enter")  # folds, and every pane moves to the call
        assert screen.selected.seq == 43
        assert listing.lines[listing.here].plain.endswith("do_syscall_64() { ... }")
        screen.go_to_seq(10)  # the fold stays while other moments are shown
        await settle(pilot)
        screen.go_to_seq(44)
        await settle(pilot)
        assert listing.lines[listing.here].plain.endswith("do_syscall_64() { ... }")


async def test_violations_of_the_broken_tls_scheme() -> None:
    from tests.tui.conftest import BROKEN

    with TraceReader.open(BROKEN) as reader:
        app = app_for(reader, BROKEN, kernel=None)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            screen = screen_of(app)
            assert screen.findings is not None and screen.findings.done
            first = screen.findings.lines[0]
            assert first.rule == "kernel-on-app-tcb" and "app-tcb[tls-musl:1]" in first.message
            await press(pilot, "v")
            assert screen.selected.seq == first.seq
            assert first.seq in screen.timeline.violations
            await press(pilot, "6")
            assert "kernel-on-app-tcb" in screen.panes["findings"].listing.lines[0].plain


async def test_a_trace_file_still_being_written_is_followed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.tui.demo_trace import demo_events, demo_meta
    from tracer.store import TraceWriter

    events = list(demo_events())
    path = tmp_path / "growing.db"
    writer = TraceWriter(path, demo_meta(str(KERNEL)))
    for event in events[:20]:
        writer.append(event)
    writer.flush()
    try:
        with TraceReader.open(path) as reader:
            app = app_for(reader, path)
            async with app.run_test(size=(80, 24)) as pilot:
                await settle(pilot)
                screen = screen_of(app)
                folded = [e.seq for e in events if is_inferred_swapgs(e)]
                assert screen.timeline.rows.count() == 20 - sum(seq < 20 for seq in folded)
                for event in events[20:]:
                    writer.append(event)
                writer.flush()
                screen.follow_file()  # what the 1 s timer does
                await settle(pilot)
                assert screen.timeline.rows.count() == len(events) - len(folded)
                assert f"{len(events):,} events" in str(screen.bar.content)
    finally:
        writer.close()


async def test_long_summaries_scroll_sideways(demo_source) -> None:  # type: ignore[no-untyped-def]
    app = app_for(demo_source)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        await press(pilot, "l", "l", "right")
        assert screen.timeline.summary_offset == 24
        await press(pilot, "h", "left", "left", "left")
        assert screen.timeline.summary_offset == 0


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_the_first_row_is_selected_on_open(demo_source, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    app = app_for(demo_source)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        assert screen.timeline.cursor == 0 and screen.selected.seq == 0
        shown = [p for p in (screen.panes["cpu"], screen.cpu_side) if p.display and p.region]
        assert shown
        for pane in shown:
            assert "no event selected" not in text_of(pane)
            assert "#0 " in text_of(pane)


async def test_i_shows_and_folds_the_inferred_swapgs_rows(demo_source) -> None:  # type: ignore[no-untyped-def]
    app = app_for(demo_source)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        folded = screen.timeline.rows.count()
        screen.go_to_seq(44)
        await press(pilot, "7")
        graph = screen.panes["graph"]
        assert not [line for line in graph.listing.lines if "swapgs, inferred" in line.plain]
        await press(pilot, "i")
        assert screen.timeline.rows.count() == len(demo_source) > folded
        assert "+swapgs" in screen.status.view and screen.selected.seq == 44
        assert [line for line in graph.listing.lines if "swapgs, inferred" in line.plain]
        await press(pilot, "1")
        cpu = text_of(screen.panes["cpu"])  # the crossing still shows the swapped values
        assert "GS base" in cpu and "KERNEL_GS_BASE" in cpu
        await press(pilot, "i")
        assert screen.timeline.rows.count() == folded
