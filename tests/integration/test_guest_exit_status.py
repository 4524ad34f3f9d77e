"""qemu/boot exits with the programs' own status, as running them natively would.

The guest reports each program's exit on its exit-status port; the other outcomes (panic, a
program that cannot be loaded) keep codes of their own (qemu/boot --help).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_guest import BAD_PROGRAM, PANIC, USER, boot, built  # noqa: F401

pytestmark = pytest.mark.qemu  # every test boots the guest


def test_one_program_gives_its_own_status(built: None, tmp_path: Path) -> None:
    run = boot([USER / "exit3"], gtlog=tmp_path / "gt.log")
    assert run.status == 3, run.console
    assert "exiting with 3" in run.console
    exits = [e for e in run.gtlog if e["ev"] == "process_exit"]
    assert [e["status"] for e in exits] == [3]


def test_a_status_above_127_survives(built: None) -> None:
    # isa-debug-exit keeps only 7 bits: the status comes from the exit-status port
    assert boot([USER / "exit3", "200"]).status == 200


def test_several_programs_give_the_first_failure(built: None) -> None:
    run = boot([USER / "exit3", "0"], [USER / "exit3", "5"], [USER / "exit3", "7"])
    assert run.status == 5, run.console
    assert boot([USER / "exit3", "0"], [USER / "hello-musl"]).status == 0


def test_other_outcomes_keep_their_codes(built: None, tmp_path: Path) -> None:
    assert boot([USER / "exit3"], cmdline="kfault=1").status == PANIC
    not_elf = tmp_path / "notes.txt"
    not_elf.write_text("not a program\n")
    assert boot([not_elf], [USER / "exit3", "0"]).status == BAD_PROGRAM
