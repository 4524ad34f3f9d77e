"""The panes' view models, without a terminal: what each pane would show for a moment."""

from __future__ import annotations

import pytest

from tests.tui.demo_trace import ENTRY_PC, PERCPU, TCB, demo_events
from tracer.decode.msr import MSR_FMASK as FMASK
from tracer.decode.msr import MSR_LSTAR as LSTAR
from tracer.event_filter import is_inferred_swapgs
from tracer.events import (
    EventKind,
    Gap,
    Interrupt,
    MsrWrite,
    Note,
    SegBaseChange,
    SegCause,
    SyscallEntry,
    SyscallExit,
)
from tracer.store import MemoryTrace, TraceReader
from tracer.tui.view_models.cpu import cpu_rows
from tracer.tui.view_models.filters import FilterError, TextMatcher, ViewFilter, parse_filter
from tracer.tui.view_models.moment import build_moments, changed, ring_of
from tracer.tui.view_models.ptregs import build_ptregs_view, find_syscall
from tracer.tui.view_models.rows import is_flagged, summarize, timeline_row
from tracer.tui.view_models.timeline import TimelineRows, run_to_end
from tracer.tui.view_models.tls import build_tls_view
from tracer.tui.view_models.trace_index import RARE_KINDS, TraceIndex

EVENTS = list(demo_events())


ALL = ViewFilter(show_swapgs=True)  # every event as a row, the inferred swapgs ones too


def index_of_all() -> TraceIndex:
    index = TraceIndex()
    index.feed_live(EVENTS)
    return index


def by_seq(seq: int):  # type: ignore[no-untyped-def]
    return next(e for e in EVENTS if e.seq == seq)


# The index: names, MSR history, owners.


def test_index_learns_names_and_msrs_in_any_order_and_owners_in_order() -> None:
    index = TraceIndex()
    index.feed(reversed(EVENTS))
    assert index.names == {1: "hello-glibc", 2: "tls-musl"}
    assert index.msr_at(LSTAR, 1_000).value == 0xFFFF_FFFF_8010_6020
    assert index.msr_at(LSTAR, 2) is None  # written at seq 3
    assert index.owner(PERCPU, 10) is None  # owners come from learn_owners only
    index.learn_owners(EVENTS)
    assert index.owner(PERCPU, 10) == "percpu[cpu0]"
    assert index.owner(TCB[1], 18) is None  # before the arch_prctl at seq 19
    assert index.owner(TCB[1], 19) == "app-tcb[hello-glibc:1]"
    assert index.owner(0, 0) == "zero"
    assert index.owners_scanned_to == EVENTS[-1].seq


def test_msr_values_prefer_the_cpu_asked_for() -> None:
    index = TraceIndex()
    index.feed(
        [
            MsrWrite(1, 1, 0, 0, 0xC000_0101, 0, 0xA, 0xFFFF_FFFF_8000_0000),
            MsrWrite(2, 2, 1, 0, 0xC000_0101, 0, 0xB, 0xFFFF_FFFF_8000_0000),
        ]
    )
    assert index.msr_at(0xC000_0101, 10, cpu=0).value == 0xA
    assert index.msr_at(0xC000_0101, 10, cpu=1).value == 0xB
    assert index.msr_at(0xC000_0101, 10, cpu=7).value == 0xB  # no value on cpu7: latest


def test_a_user_half_gs_value_is_not_a_per_cpu_area() -> None:
    index = TraceIndex()
    index.learn_owners([MsrWrite(1, 1, 0, 0, 0xC000_0101, 0, 0x7000, 0xFFFF_FFFF_8000_0000)])
    assert index.owner(0x7000, 5) is None


def test_an_owner_the_capture_named_wins() -> None:
    change = SegBaseChange(
        1, 1, 0, 3, "fs", 0, 0x5000, SegCause.CONTEXT_SWITCH, 0, new_owner="kernel-tcb[thread 3]"
    )
    index = TraceIndex()
    index.learn_owners([change])
    assert index.owner(0x5000, 1) == "kernel-tcb[thread 3]"


# Filters and text matching.


def test_parse_filter_words() -> None:
    parsed = parse_filter("kind:syscall pid:2 cpu:0 sys:write,openat")
    assert parsed.kinds == {"syscall_entry", "syscall_exit"}
    assert (parsed.pid, parsed.cpu) == (2, 0)
    assert parsed.syscalls == {1, 257}
    assert parsed.needs_scan
    assert parse_filter(parsed.describe()) == parsed
    assert parse_filter("") == ViewFilter()
    regex = parse_filter("kind:msr /EFER|STAR/")
    assert regex.regex and regex.text == "EFER|STAR"
    assert parse_filter("hello world").text == "hello world"


def test_strace_trace_spelling_in_the_filter() -> None:
    assert parse_filter("trace=write,brk").syscalls == {1, 12}
    assert parse_filter("trace=write,brk") == parse_filter("sys:write,brk")
    all_but = parse_filter("trace=!write")
    assert 1 not in all_but.syscalls and 12 in all_but.syscalls
    assert all_but.describe() == "sys:!write"
    assert parse_filter(all_but.describe()) == all_but


@pytest.mark.parametrize(
    "spec, message",
    [
        ("kind:bogus", "unknown kind"),
        ("sys:nosuchcall", "unknown syscall"),
        ("pid:x", "takes a number"),
        ("/[/", "bad regular expression"),
        ("pid:", "value"),
    ],
)
def test_parse_filter_errors_name_the_word(spec: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        parse_filter(spec)


def test_text_matcher() -> None:
    assert TextMatcher.parse("WRITE").matches("write(1, ...)")
    assert TextMatcher.parse("/wr.te\\(1/").matches("write(1, ...)")
    assert not TextMatcher.parse("/^write/").matches("pwrite64(1)")


# Timeline rows.


def test_rows_summaries_and_styles() -> None:
    index = index_of_all()
    entry = by_seq(42)  # write(1, "Hello, world!\n", 14)
    exit_ = by_seq(49)
    assert summarize(entry) == ('write(1, "Hello, world!\\n", 14)', "entry")
    assert summarize(exit_, entry) == ('write(1, "Hello, world!\\n", 14) = 14', "exit")
    assert summarize(exit_)[0] == "<... write resumed> = 14"
    failed = by_seq(39)  # access() = -ENOENT
    assert summarize(failed, by_seq(36))[1] == "error"
    assert "SCE|LME|LMA|NXE" in summarize(by_seq(1))[0]
    assert summarize(by_seq(24))[0] == "hello-glibc:1 => tls-musl:2"
    assert "#PF entry from ring 3" in summarize(by_seq(63))[0]
    assert "cr2=0x4d3000" in summarize(by_seq(63))[0]
    assert "fs:0 -> itself" in summarize(by_seq(32))[0]
    assert summarize(by_seq(43), symbolize=lambda a: "do_syscall_64")[0] == "do_syscall_64() {"
    row = timeline_row(entry, index)
    assert (row.process, row.kind, row.cpu) == ("1:hello-glibc", "entry", "0")
    assert "hello-glibc" in row.text and "write" in row.text


def test_flagged_events() -> None:
    assert is_flagged(Gap(1, 1, "lost"))
    assert is_flagged(Note(1, 1, "x", "warning"))
    assert not is_flagged(Note(1, 1, "x"))
    assert is_flagged(by_seq(65))  # a base change of unknown cause
    assert not is_flagged(by_seq(20))


@pytest.fixture(params=["memory", "file"])
def source(request, demo_file):  # type: ignore[no-untyped-def]
    if request.param == "memory":
        yield MemoryTrace(EVENTS)
    else:
        with TraceReader.open(demo_file) as reader:
            yield reader


def _scan_all(rows: TimelineRows) -> None:
    while rows.scan is not None and not rows.scan.step(7):
        pass


def test_rows_page_and_find_seqs(source) -> None:  # type: ignore[no-untyped-def]
    rows = TimelineRows(source, index_of_all(), ALL)
    assert rows.count() == len(EVENTS)
    assert rows.event(33).seq == 33
    assert rows.index_of(40) == 40
    assert rows.row(len(EVENTS)) is None
    pid2 = TimelineRows(source, index_of_all(), ViewFilter(pid=2, show_swapgs=True))
    expected = [e.seq for e in EVENTS if getattr(e, "pid", None) == 2]
    assert [pid2.event(i).seq for i in range(pid2.count())] == expected
    assert pid2.index_of(expected[3]) == 3
    assert pid2.index_of(expected[3] + 1, nearest=True) == 4  # hidden seq: the next row


@pytest.mark.parametrize("spec", ["sys:write", "hello", "/= -1 E/", "sys:arch_prctl tls"])
def test_scan_filters_match_a_plain_list_filter(source, spec: str) -> None:  # type: ignore[no-untyped-def]
    index = index_of_all()
    view_filter = parse_filter(spec)
    rows = TimelineRows(source, index, view_filter)
    _scan_all(rows)
    everything = TimelineRows(source, index, ALL)
    expected = []
    matcher = view_filter.matcher()
    for i in range(everything.count()):
        event, row = everything.row(i)
        if (
            view_filter.syscalls is not None
            and getattr(event, "nr", None) not in view_filter.syscalls
        ):
            continue
        if view_filter.syscalls is not None and event.kind.value not in (
            "syscall_entry",
            "syscall_exit",
        ):
            continue
        if matcher is not None and not matcher.matches(row.text):
            continue
        if view_filter.folds_swapgs and is_inferred_swapgs(event):
            continue
        expected.append(event.seq)
    assert expected, "the case should match something"
    assert [rows.event(i).seq for i in range(rows.count())] == expected


def test_search_walks_both_ways(source) -> None:  # type: ignore[no-untyped-def]
    rows = TimelineRows(source, index_of_all(), ALL)
    writes = [e.seq for e in EVENTS if isinstance(e, SyscallEntry) and e.nr == 1]

    def is_write(event, row) -> bool:  # type: ignore[no-untyped-def]
        return row.kind == "entry" and row.summary.startswith("write(")

    assert run_to_end(rows.search(0, True, is_write)) == writes[0]
    assert run_to_end(rows.search(writes[0], True, is_write)) == writes[1]
    assert run_to_end(rows.search(writes[1], False, is_write)) == writes[0]
    assert run_to_end(rows.search(writes[0], False, is_write)) is None


@pytest.mark.parametrize(
    "view", [ViewFilter(), ViewFilter(pid=2), parse_filter("sys:write,exit_group")]
)
def test_find_by_kind_agrees_with_a_walk(source, view: ViewFilter) -> None:  # type: ignore[no-untyped-def]
    rows = TimelineRows(source, index_of_all(), view)
    _scan_all(rows)
    kinds = frozenset({EventKind.SYSCALL_ENTRY.value})
    for start in range(rows.count()):
        for forward in (True, False):
            fast = run_to_end(rows.find(start, forward, kinds))
            walk = run_to_end(
                rows.search(start, forward, lambda event, row: event.kind.value in kinds)
            )
            assert fast == walk, (start, forward)


# The CPU at a moment.


def test_moment_at_a_syscall_entry(source) -> None:  # type: ignore[no-untyped-def]
    index = index_of_all()
    now, before = build_moments(source, index, 42)
    assert now.pid == 1 and now.process == "1:hello-glibc"
    assert now.ring == 0 and now.rip == ENTRY_PC
    assert now.cr3 == 0x20_1000
    assert now.bases["fs"].value == TCB[1]
    assert now.bases["fs"].owner == "app-tcb[hello-glibc:1]"
    assert now.bases["gs"].owner == "percpu[cpu0]"
    assert now.msrs[FMASK].value == 0x4_7700
    assert before.seq == 41
    assert changed(now, before) == {"rip"}


def test_moment_after_a_context_switch_sees_the_other_tls(source) -> None:  # type: ignore[no-untyped-def]
    index = index_of_all()
    now, _ = build_moments(source, index, 53)  # getpid of pid 2
    assert now.bases["fs"].value == TCB[2]
    assert now.bases["fs"].owner == "app-tcb[tls-musl:2]"


def test_moment_falls_back_to_queries_beyond_its_window(source) -> None:  # type: ignore[no-untyped-def]
    index = index_of_all()
    near, _ = build_moments(source, index, 45, window=256)
    far, _ = build_moments(source, index, 45, window=1)
    assert far.bases == near.bases and far.cr3 == near.cr3


def _short_then_whole(source, monkeypatch, answer):  # type: ignore[no-untyped-def]
    """`answer()` with the short window tried first, then with the whole window only, and the
    rows each asked the trace for."""
    from tracer.tui.view_models import moment

    asked: list[int] = []
    page = source.page

    def counted(start, count, **query):  # type: ignore[no-untyped-def]
        asked.append(count)
        return page(start, count, **query)

    monkeypatch.setattr(source, "page", counted)
    short = answer()
    short_rows, asked[:] = sum(asked), []
    monkeypatch.setattr(moment, "NEAR_WINDOW", 10**9)
    whole = answer()
    return short, whole, short_rows, sum(asked)


def test_moments_from_the_short_window_equal_the_whole_windows(  # type: ignore[no-untyped-def]
    source, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A jump folds a few events, not 256: where both moments fold completely inside the short
    window its answer is the whole window's, at every event of the trace."""
    index = index_of_all()
    short, whole, short_rows, whole_rows = _short_then_whole(
        source, monkeypatch, lambda: [build_moments(source, index, e.seq) for e in EVENTS]
    )
    assert short == whole
    assert short_rows < whole_rows  # some moments stayed in the short window


def test_every_cpus_bases_from_the_short_window_equal_the_whole_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same, with the bases of every CPU side by side, on a trace of two CPUs where every
    event has its CPU: most moments stay in the short window."""
    from tracer.bench.synthetic import synthetic_events
    from tracer.tui.view_models.moment import bases_by_cpu

    events = list(synthetic_events(3000, cpus=2))
    source, index = MemoryTrace(events), TraceIndex()
    index.feed_live(events)
    seqs = [event.seq for event in events[::7]]

    def every_cpu() -> list[object]:
        return [
            (build_moments(source, index, seq), bases_by_cpu(source, index, seq, [0, 1]))
            for seq in seqs
        ]

    short, whole, short_rows, whole_rows = _short_then_whole(source, monkeypatch, every_cpu)
    assert short == whole
    assert short_rows < whole_rows / 2


def test_cpu_rows_mark_changes_and_unknowns(source) -> None:  # type: ignore[no-untyped-def]
    index = index_of_all()
    now, before = build_moments(source, index, 28)  # arch_prctl's FS change for pid 2
    rows = {row.key: row for row in cpu_rows(now, before, lambda a: "sym")}
    assert rows["fs"].changed and rows["fs"].value == f"{TCB[2]:016x}"
    assert rows["fs"].detail == "app-tcb[tls-musl:2]"
    assert rows["msr:0xc0000082"].detail == "sym"
    assert not rows["gs"].changed
    first, _ = build_moments(source, index, 0)
    rows = {row.key: row for row in cpu_rows(first, None)}
    assert not rows["rip"].known and rows["cr3"].value == "not recorded"


BOOT_PC = 0x10005E  # in _start32, the 32-bit boot code of fixtures/kernel.elf (.boot)


def test_ring_comes_from_the_event_or_the_kernel_image() -> None:
    entry = by_seq(42)
    assert entry.kind == EventKind.SYSCALL_ENTRY
    assert ring_of(entry, entry.pc) == (0, "syscall probe, from ring 3: cs 0x33")
    wrmsr = MsrWrite(1, 0, 0, 0, 0xC000_0080, 0, 0x500, BOOT_PC)
    assert ring_of(wrmsr, BOOT_PC) == (0, "wrmsr is privileged")  # low, but ring 0
    fault = Interrupt(2, 0, 0, 1, "entry", 14, "#PF", 6, 0x4D_3000, 3, 0x40_1234, ENTRY_PC)
    assert ring_of(fault, ENTRY_PC) == (0, "entry probe, taken from ring 3")
    wrfsbase = SegBaseChange(3, 0, 0, 0, "fs", 0, 1, SegCause.WRFSBASE, BOOT_PC)
    assert ring_of(wrfsbase, BOOT_PC, lambda a: ".boot") == (0, "kernel .boot")
    assert ring_of(wrfsbase, 0x40_1234, lambda a: None) == (3, "outside the kernel image?")
    assert ring_of(wrfsbase, 0x40_1234) == (None, "no kernel image to tell")
    assert ring_of(wrfsbase, None) == (None, "")


def test_the_cpu_pane_reads_the_ring_of_boot_code_from_the_kernel_sections() -> None:
    from tests.tui.conftest import KERNEL
    from tracer.tui.open_trace import OpenTrace

    trace = OpenTrace(MemoryTrace(EVENTS, {}), None, kernel=KERNEL)
    assert trace.kernel_image() is not None
    assert trace.kernel_section(BOOT_PC) == ".boot"
    assert trace.kernel_section(ENTRY_PC) == ".text"
    assert trace.kernel_section(0x40_1234) is None
    boot = SegBaseChange(0, 0, 0, 0, "gs", 0, PERCPU, SegCause.WRGSBASE, BOOT_PC)
    source = MemoryTrace([boot], {})
    now, _ = build_moments(source, TraceIndex(), 0, kernel_section=trace.kernel_section)
    assert (now.ring, now.ring_how) == (0, "kernel .boot")
    rows = {row.key: row for row in cpu_rows(now, None, trace.symbolize)}
    assert rows["rip"].detail == "_start32+0x3e  ring 0 (kernel .boot)"


# pt_regs.


def test_ptregs_pairs_entry_and_exit_from_either_side(source) -> None:  # type: ignore[no-untyped-def]
    entry, exit_, context = find_syscall(source, by_seq(42))
    assert (entry.seq, exit_.seq, context) == (42, 49, "")
    assert find_syscall(source, by_seq(49))[:2] == (entry, exit_)
    entry2, exit2, context2 = find_syscall(source, by_seq(44))  # a function event inside write
    assert (entry2.seq, exit2.seq) == (42, 49) and "in flight" in context2
    view = build_ptregs_view(entry, exit_)
    names = [row.name for row in view.rows]
    assert names[:3] == ["orig_ax", "ax", "di"] and set(names) == {n for n, _ in entry.regs}
    ax = next(row for row in view.rows if row.name == "ax")
    assert ax.changed and ax.exit == 14 and ax.note == "return: 14"
    assert view.call == 'write(1, "Hello, world!\\n", 14) = 14'


def test_ptregs_of_a_call_that_never_returned(source) -> None:  # type: ignore[no-untyped-def]
    entry, exit_, _ = find_syscall(source, by_seq(71))  # exit_group
    view = build_ptregs_view(entry, exit_)
    assert exit_ is None and view.status.startswith("in flight")
    assert all(row.exit is None and not row.changed for row in view.rows)


# TLS.


def test_tls_view_without_and_with_a_snapshot(source) -> None:  # type: ignore[no-untyped-def]
    index = index_of_all()
    now, _ = build_moments(source, index, 42)
    view = build_tls_view(now)
    assert view.self_pointer == "not recorded"
    now2, _ = build_moments(source, index, 53)
    snapshot = by_seq(32)
    view2 = build_tls_view(now2, snapshot=snapshot)
    assert view2.self_pointer.startswith("yes")
    assert {v.name: v.value for v in view2.program_variables}["tls_init"] == "0x2a (42)"
    other = build_tls_view(now, snapshot=snapshot)  # pid 1's FS: the snapshot read pid 2's
    assert other.self_pointer == "not recorded"


def test_rare_kinds_are_the_ones_read_at_open() -> None:
    assert EventKind.PROCESS in RARE_KINDS
    assert all(not isinstance(e, SyscallExit) for e in EVENTS if e.kind in RARE_KINDS)


# Findings.


def test_findings_scan_checks_in_chunks_and_merges_what_the_capture_flagged(source) -> None:  # type: ignore[no-untyped-def]
    from tracer.analysis.checks import Checker, KernelFacts
    from tracer.tui.view_models.findings import FindingsScan

    scan = FindingsScan(source, Checker(KernelFacts()))
    while not scan.step(5):
        pass
    assert [(line.seq, line.rule) for line in scan.lines] == [
        (65, "unknown-base-change"),
        (66, "gap"),
        (67, "warning"),
    ]
    assert scan.next_after(0, True) == 65 and scan.next_after(65, True) == 66
    assert scan.next_after(66, False) == 65 and scan.next_after(65, False) is None
    whole = FindingsScan(source, Checker(KernelFacts()))
    assert list(whole.steps()) == [] and whole.lines == scan.lines  # one chunk: done at once


def test_findings_fed_live_batches() -> None:
    from tracer.analysis.checks import Checker, KernelFacts
    from tracer.tui.view_models.findings import FindingsScan

    scan = FindingsScan(MemoryTrace(), Checker(KernelFacts()))
    scan.feed(EVENTS[:66])
    scan.feed(EVENTS[66:])
    assert scan.seqs == [65, 66, 67] and scan.next_seq == EVENTS[-1].seq + 1


def test_tls_values_show_text_when_the_word_is_text() -> None:
    from tracer.tui.view_models.tls import value_text

    assert value_text(42) == "0x2a (42)"
    assert value_text(int.from_bytes(b"thread-l", "little")) == '0x6c2d646165726874 "thread-l"'
    assert value_text(int.from_bytes(b"ok\0\0\0\0\0\0", "little")) == '0x6b6f "ok"'


def test_an_event_the_decoders_choke_on_still_gets_a_row(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tracer.tui.view_models import rows

    def broken(*args: object) -> tuple[str, str]:
        raise ValueError("no such flag")

    monkeypatch.setattr(rows, "summarize", broken)
    row = rows.timeline_row(by_seq(42), TraceIndex())
    assert row.style == "warning" and "cannot format this event: ValueError" in row.summary
