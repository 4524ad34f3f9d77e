"""`tracer bench --smp N`: its option checks and its table (the measuring boots the guest: see
tests/integration/test_bench_smp_qemu.py)."""

from __future__ import annotations

import pytest

from tracer.bench.stops import print_smp_figures
from tracer.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["--smp", "1"],
        ["--smp", "5"],
        ["--smp", "2", "--graph"],
        ["--icount", "shift=0", "--graph"],
        ["--icount", "shift=0,sleep=off"],
    ],
)
def test_bad_smp_is_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tracer bench: ") and len(err.splitlines()) == 1


def _run(cpus: int, rate: float, per_cpu: dict) -> dict:
    return {
        "cpus": cpus,
        "reason": "guest-exit",
        "syscalls": 600,
        "seconds": 2.0,
        "stops_per_s": rate,
        "stops_per_syscall": 2.0,
        "all_stops_per_syscall": 2.5,
        "syscalls_per_s": rate / 2,
        "per_cpu": per_cpu,
    }


def test_table_shows_both_runs_their_ratio_and_each_cpu(
    capsys: pytest.CaptureFixture[str],
) -> None:
    one = _run(1, 500.0, {0: {"syscalls": 600, "stops_per_s": 500.0, "stops_per_syscall": 2.0}})
    two = _run(
        2,
        600.0,
        {
            0: {"syscalls": 350, "stops_per_s": 350.0, "stops_per_syscall": 2.0},
            1: {"syscalls": 250, "stops_per_s": 250.0, "stops_per_syscall": 2.0},
        },
    )
    ratios = {"stops_per_s": 1.2, "stops_per_syscall": 1.0, "syscalls_per_s": 1.2}
    print_smp_figures({"threads": 2, "one_cpu": one, "smp": two, "smp_vs_one_cpu": ratios}, 600)
    out = capsys.readouterr().out.splitlines()
    assert "1 CPU against 2 CPUs" in out[0]
    rate = next(line for line in out if "syscall stops per second" in line).split()
    assert rate[-3:] == ["500.0", "600.0", "1.2"]
    assert any(line.strip().startswith("cpu0: 350 syscalls") for line in out)
    assert any(line.strip().startswith("cpu1: 250 syscalls") for line in out)
    assert not any("warning" in line for line in out)
