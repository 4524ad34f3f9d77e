"""`tracer bench --smp 2` boots the guest twice and reports both CPUs (no timing asserted)."""

from __future__ import annotations

import json

import pytest
from capture_support import build_guest

from tracer.cli import main

pytestmark = pytest.mark.qemu


def test_bench_smp_reports_each_cpu_beside_one(capsys: pytest.CaptureFixture[str]) -> None:
    build_guest()
    assert main(["bench", "--smp", "2", "--syscalls", "200", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    one, two = figures["one_cpu"], figures["smp"]
    assert (one["cpus"], two["cpus"], figures["threads"]) == (1, 2, 2)
    for run in (one, two):
        assert run["reason"] == "guest-exit"
        assert run["syscalls"] >= 200
        # an entry and an exit stop per syscall (exit and exit_group have no exit)
        assert 1.9 <= run["stops_per_syscall"] <= 2.0
    assert set(two["per_cpu"]) == {"0", "1"}  # JSON keys
    assert sum(row["syscalls"] for row in two["per_cpu"].values()) == two["syscalls"]
    assert list(one["per_cpu"]) == ["0"]
    assert set(figures["smp_vs_one_cpu"]) == {"stops_per_s", "stops_per_syscall", "syscalls_per_s"}
