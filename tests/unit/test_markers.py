"""Tests that boot a guest are marked, so `-m "not qemu"` runs without QEMU and the QEMU tests
share their xdist groups (tests/conftest.py)."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
# What a test module imports to boot the built-in guest or Debian's kernel.
BOOTS = re.compile(r"^from (test_guest|capture_support|test_linux_capture) import .*\b(boot|"
                   r"run_capture|capture|traced_boot)\b", re.MULTILINE)  # fmt: skip
MARKED = re.compile(r"pytestmark = .*pytest\.mark\.(qemu|linux)")


def test_every_module_that_boots_a_guest_is_marked() -> None:
    booting = [p for p in sorted(TESTS.rglob("test_*.py")) if BOOTS.search(p.read_text())]
    assert len(booting) >= 10  # the pattern still finds them
    unmarked = [str(p.relative_to(TESTS)) for p in booting if not MARKED.search(p.read_text())]
    assert unmarked == []
