"""The guest's function-graph ring buffer (-pg -mfentry), seen from the guest side.

`ftrace=1` turns tracing on at boot and `ftrace_dump=1` writes the ring to the ground-truth
log at power-off, so these tests need no debugger; one test drives the controls through a
plain gdb the way the tracer does. Layout and names: guest/README.md.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from test_guest import ALL_OK, GUEST, REPO, USER, Boot, boot, built  # noqa: F401

KERNEL = GUEST / "build" / "kernel.elf"
NOTRACE = {  # never instrumented: the hooks, the TLS switch, the logger, early boot, lib/
    "__fentry__", "ftrace_caller", "return_to_handler", "prepare_ftrace_return",
    "ftrace_return_to_handler", "ftrace_buffer_full", "tls_switch_to_kernel",
    "tls_switch_to_app", "tls_context_switch", "gt_begin", "gtlog_syscall_entry",
    "kernel_main", "parse_cmdline", "memcpy", "memset", "vsnprintf",
}  # fmt: skip

pytestmark = pytest.mark.qemu


def symbols() -> dict[str, tuple[int, int]]:
    """Function name -> (address, size) from kernel.elf."""
    from elftools.elf.elffile import ELFFile

    with open(KERNEL, "rb") as f:
        table = ELFFile(f).get_section_by_name(".symtab")
        return {
            s.name: (s["st_value"], s["st_size"])
            for s in table.iter_symbols()
            if s["st_info"]["type"] == "STT_FUNC"
        }


def by_address() -> dict[int, str]:
    return {addr: name for name, (addr, _) in symbols().items()}


def records(run: Boot) -> list[dict]:
    return [e for e in run.gtlog if e["ev"] == "ftrace"]


def traced_boot(tmp: Path, *programs: list, cmdline: str = "", profile: str = "default") -> Boot:
    tmp.mkdir(parents=True, exist_ok=True)
    return boot(
        *programs,
        gtlog=tmp / "gt.log",
        profile=profile,
        cmdline=f"ftrace=1 ftrace_dump=1 ftrace_entries=65536 {cmdline}".strip(),
    )


@pytest.fixture(scope="module")
def hello(built: None, tmp_path_factory: pytest.TempPathFactory) -> Boot:
    run = traced_boot(tmp_path_factory.mktemp("hello"), [USER / "hello-glibc"])
    assert run.status == ALL_OK, run.console
    return run


def test_tracing_is_off_unless_asked(built: None, tmp_path: Path) -> None:
    run = boot([USER / "hello-glibc"], gtlog=tmp_path / "gt.log", cmdline="ftrace_dump=1")
    assert run.status == ALL_OK, run.console
    (ring,) = [e for e in run.gtlog if e["ev"] == "ftrace_ring"]
    assert (ring["head"], ring["tail"], ring["overruns"]) == (0, 0, 0)
    assert records(run) == []


def test_records_nest_per_task(hello: Boot) -> None:
    """Entries and exits pair up on each task's stack with the recorded depths; what is left
    open at power-off is what never returns (the exited process, the power-off path)."""
    names = by_address()
    stacks: dict[int, list[int]] = {}
    for e in records(hello):
        stack = stacks.setdefault(e["pid"], [])
        if e["type"] == "entry":
            assert e["depth"] == len(stack), e
            stack.append(e["func"])
        else:
            assert stack and stack[-1] == e["func"] and e["depth"] == len(stack) - 1, e
            stack.pop()
    assert [names[f] for f in stacks[1]][:2] == ["do_syscall_64", "sys_exit_group"]
    assert [names[f] for f in stacks[0]] == ["poweroff"]


def test_records_name_instrumented_functions_only(hello: Boot) -> None:
    names = by_address()
    seen = {names.get(e["func"]) for e in records(hello)}
    assert None not in seen, "a record whose address is not a function's first byte"
    assert not seen & NOTRACE
    assert {"do_syscall_64", "sys_write", "schedule", "context_switch", "wrmsr"} <= seen
    times = [e["time"] for e in records(hello)]
    assert times == sorted(times) and len(set(times)) > len(times) // 2


def test_do_syscall_64_matches_the_syscalls(hello: Boot) -> None:
    names = by_address()
    calls = [e for e in records(hello) if names[e["func"]] == "do_syscall_64"]
    entries = [e for e in hello.gtlog if e["ev"] == "syscall_entry"]
    assert len([e for e in calls if e["type"] == "entry"]) == len(entries)
    writes = [e for e in records(hello) if names[e["func"]] == "sys_write" and e["type"] == "exit"]
    (ret,) = [e["ret"] for e in hello.gtlog if e["ev"] == "syscall_exit" and e["nr"] == 1]
    assert [e["retval"] for e in writes] == [ret] == [len("Hello, world!\n")]


def test_filters_from_the_command_line(built: None, tmp_path: Path) -> None:
    syms = symbols()
    root, skipped = syms["do_syscall_64"][0], syms["mm_walk"][0]
    run = traced_boot(
        tmp_path,
        [USER / "hello-glibc"],
        cmdline=f"ftrace_graph={root:#x} ftrace_notrace={skipped:#x} ftrace_max_depth=3",
    )
    assert run.status == ALL_OK, run.console
    recs = records(run)
    assert recs and {e["func"] for e in recs if e["depth"] == 0} == {root}
    assert max(e["depth"] for e in recs) == 2
    assert skipped not in {e["func"] for e in recs}


def test_a_full_ring_overwrites_and_counts_overruns(built: None, tmp_path: Path) -> None:
    run = traced_boot(tmp_path, [USER / "hello-glibc"], cmdline="ftrace_entries=256")
    assert run.status == ALL_OK, run.console
    (ring,) = [e for e in run.gtlog if e["ev"] == "ftrace_ring"]
    assert ring["size"] == 256 and ring["head"] > 1000
    assert ring["head"] - ring["tail"] == 256 == len(records(run))
    assert ring["overruns"] == ring["head"] - 256


def test_icount_timestamps_are_deterministic(built: None, tmp_path: Path) -> None:
    """Under -icount guest time follows instructions: the same run twice gives the same
    records with the same TSC values, so durations are exact and comparable."""
    programs = ([USER / "hello-glibc"], [USER / "tls-glibc", "5"])
    runs = [traced_boot(tmp_path / str(i), *programs, profile="icount") for i in (1, 2)]
    for run in runs:
        assert run.status == ALL_OK, run.console
    first, second = (records(run) for run in runs)
    assert len(first) > 1000
    assert first == second
    assert [e["tsc"] for e in runs[0].gtlog] == [e["tsc"] for e in runs[1].gtlog]


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb not installed")
def test_gdb_drains_at_the_high_water_mark(built: None) -> None:
    """The tracer's protocol: arm through gdb, break in ftrace_buffer_full, read the ring,
    write tail; nothing is lost while someone drains."""
    commands = [
        "break cpu_idle_loop", "continue",
        "print sizeof(struct ftrace_entry)", "print sizeof(struct ftrace_ring)",
        "print ftrace_rings[0].high_water",
        "set var ftrace_enabled = 1",
        "break ftrace_buffer_full", "continue",
        "print ring->head - ring->tail", "print ring == &ftrace_rings[0]",
        "print (int)ring->entries[ring->tail & (ring->size - 1)].type",
        "set var ring->tail = ring->head", "continue",
        "print ring->head - ring->tail", "print ring->overruns",
        "print ((struct percpu *)$gs_base)->ftrace_ring == &ftrace_rings[0]",
        "x/3i __fentry__",
    ]  # fmt: skip
    argv = [
        sys.executable,
        str(REPO / "qemu" / "gdb-attach"),
        "--no-build",
        "--batch",
        "--cmdline",
        "ftrace_entries=1024",
    ]
    for command in commands:
        argv += ["--ex", command]
    result = subprocess.run(
        argv + [str(USER / "hello-glibc")],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    values = re.findall(r"^\$\d+ = (.*)$", result.stdout, re.M)
    assert values == ["32", "64", "768", "768", "1", "0", "768", "0", "1"], (
        result.stdout + result.stderr
    )
    # off: one compare and a branch, then back
    fentry = re.findall(r"<__fentry__(?:\+\d+)?>:\s+(\w+)", result.stdout)
    assert fentry == ["cmpl", "jne", "ret"], result.stdout


def test_mcount_loc_lists_every_fentry_call(built: None) -> None:
    """-mrecord-mcount's table (Linux's __mcount_loc): each entry is a `call __fentry__`."""
    from elftools.elf.elffile import ELFFile

    with open(KERNEL, "rb") as f:
        elf = ELFFile(f)
        table = {s.name: s["st_value"] for s in elf.get_section_by_name(".symtab").iter_symbols()}
        rodata, text = elf.get_section_by_name(".rodata"), elf.get_section_by_name(".text")
        start, stop = table["__start_mcount_loc"], table["__stop_mcount_loc"]
        raw = rodata.data()[start - rodata["sh_addr"] : stop - rodata["sh_addr"]]
        sites = struct.unpack(f"<{len(raw) // 8}Q", raw)
        code, base = text.data(), text["sh_addr"]
    fentry = table["__fentry__"]
    assert len(sites) > 100
    for site in sites:
        insn = code[site - base : site - base + 5]
        assert insn[0] == 0xE8, hex(site)
        assert site + 5 + struct.unpack("<i", insn[1:])[0] == fentry, hex(site)
    names = by_address()
    assert Counter(names.get(site) for site in sites)["do_syscall_64"] == 1


def test_kernel_builds_without_instrumentation(tmp_path: Path) -> None:
    build = tmp_path / "build"
    result = subprocess.run(
        ["make", "-C", str(GUEST), "-s", "-j2", f"BUILD={build}", "FTRACE=0", "kernel"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    disasm = subprocess.run(
        ["objdump", "-d", str(build / "kernel.elf")], capture_output=True, text=True
    ).stdout
    assert "<do_syscall_64>:" in disasm
    assert not re.search(r"call\s+\w+ <__fentry__>", disasm)
