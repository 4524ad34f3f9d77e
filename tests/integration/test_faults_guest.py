"""Guests that go wrong: one that hangs, one that triple-faults, one that powers off early.

Each is a failed capture (exit status 1) reported in one line with the tail of the guest
console, a trace that ends with a Note saying why, and nothing left running.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from capture_support import build_guest
from test_faults_support import (
    BOOT_IMAGE,
    KERNEL,
    USER,
    Finished,
    build_static,
    read_all,
    run_tracer,
    tracer_env,
)

from tracer.events import Note, SyscallEntry

pytestmark = pytest.mark.qemu

SPIN = r"""
#include <stdio.h>
int main(void)
{
    puts("spin: going round forever");
    fflush(stdout);
    for (;;)
        __asm__ volatile("pause");
}
"""

# A multiboot (v1) ELF32 kernel that loads an empty IDT and executes ud2: #UD cannot be
# delivered, nor can the #GP or #DF that follow, so the CPU shuts down (a triple fault).
TRIPLE_FAULT = r"""
.text
.align 4
.long 0x1BADB002
.long 0
.long -0x1BADB002
.globl _start
_start:
    cli
    lidt empty_idt
    movl $0x3f8, %edx
    movb $'!', %al
    outb %al, %dx
    ud2
.align 8
empty_idt:
    .word 0
    .long 0
"""


@pytest.fixture(scope="module", autouse=True)
def guest() -> None:
    build_guest()


def last_note(trace: Path) -> Note:
    events = read_all(trace)
    assert isinstance(events[-1], Note), events[-1]
    return events[-1]


def test_a_guest_that_hangs_is_reported_with_its_console(tmp_path: Path) -> None:
    spin = build_static(tmp_path, "spin", SPIN)
    trace = tmp_path / "hang.db"
    done = run_tracer(
        ["capture", "--program", str(spin), "-o", str(trace), "--idle-timeout", "3"], cwd=tmp_path
    )
    assert done.status == 1
    line = done.error_line()
    assert "the guest hung" in line
    assert "spin: going round forever" in line  # the console's last words
    events = read_all(trace)
    assert any(isinstance(e, SyscallEntry) for e in events)  # its start-up was recorded
    assert "hung" in last_note(trace).text


def build_triple_fault_image(tmp: Path) -> Path:
    for tool in ("as", "ld"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} (binutils) is not installed")
    src = tmp / "triple.S"
    src.write_text(TRIPLE_FAULT)
    obj, image = tmp / "triple.o", tmp / "triple.elf"
    for argv in (
        ["as", "--32", "-o", str(obj), str(src)],
        ["ld", "-m", "elf_i386", "-Ttext", "0x100000", "-e", "_start", "-o", str(image), str(obj)],
    ):
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            pytest.skip(f"{argv[0]} cannot build a 32-bit image: {proc.stderr[-300:]}")
    return image


def test_a_guest_that_triple_faults_is_reported(tmp_path: Path) -> None:
    # The probes come from the built-in kernel's ELF, but QEMU boots the tiny image: it
    # faults before any probe can fire, as a kernel with a broken IDT would.
    image = build_triple_fault_image(tmp_path)
    trace = tmp_path / "triple.db"
    done = run_tracer(
        [
            "capture",
            "--kernel",
            str(KERNEL),
            "--boot-image",
            str(image),
            "--program",
            str(USER / "hello-glibc"),
            "-o",
            str(trace),
        ],
        cwd=tmp_path,
    )
    assert done.status == 1
    line = done.error_line()
    assert "triple-faulted" in line
    assert line.count("!") >= 1  # the byte the image wrote to the console before faulting
    assert "triple-faulted" in last_note(trace).text


def test_a_guest_that_powers_off_early_is_reported(tmp_path: Path) -> None:
    # kfault=1: the kernel faults in ring 0 right after boot, panics and powers off with
    # status 2 before the program runs.
    trace = tmp_path / "panic.db"
    done: Finished = run_tracer(
        [
            "capture",
            "--cmdline",
            "kfault=1",
            "--program",
            str(USER / "hello-glibc"),
            "-o",
            str(trace),
        ],
        cwd=tmp_path,
    )
    assert done.status == 1
    line = done.error_line()
    assert "the guest exited with status 2" in line
    assert "panic" in line.lower()
    events = read_all(trace)
    assert not [e for e in events if isinstance(e, SyscallEntry)]
    assert "status 2" in last_note(trace).text


def test_a_clean_run_ends_with_an_info_note_and_status_0(tmp_path: Path) -> None:
    trace = tmp_path / "ok.db"
    done = run_tracer(["capture", "-q", "-o", str(trace)], cwd=tmp_path)
    assert done.status == 0, done.stderr
    assert done.stderr == "" and done.stdout == ""
    note = last_note(trace)
    assert note.level == "info" and "guest-exit" in note.text


def test_boot_image_is_the_built_in_one() -> None:
    assert BOOT_IMAGE.exists()


def test_output_streams_for_scripts(tmp_path: Path) -> None:
    """Not a terminal: no progress, one summary line on stderr; --json: one object on stdout
    and nothing on stderr. On a terminal the progress line appears (on stderr only)."""
    import json
    import os
    import pty
    import sys

    plain = run_tracer(["capture", "-o", str(tmp_path / "a.db")], cwd=tmp_path)
    assert plain.status == 0 and plain.stdout == ""
    assert len(plain.stderr.splitlines()) == 1 and "\x1b" not in plain.stderr
    assert "events" in plain.stderr and "guest-exit" in plain.stderr

    as_json = run_tracer(["capture", "--json", "-o", str(tmp_path / "b.db")], cwd=tmp_path)
    assert as_json.status == 0 and as_json.stderr == ""
    summary = json.loads(as_json.stdout)
    assert summary["ok"] is True and summary["lost"] == 0 and summary["events"] > 0

    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracer.cli", "capture", "-o", str(tmp_path / "c.db")],
        cwd=tmp_path,
        env=tracer_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=secondary,
    )
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(primary)
    assert proc.wait(timeout=60) == 0
    assert proc.stdout is not None and proc.stdout.read() == b""
    assert b"starting QEMU and gdb" in seen or b"events/s" in seen
