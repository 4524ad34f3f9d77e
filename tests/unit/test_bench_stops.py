"""`tracer bench` (stop rates): the tracer and the bare loop in turns, the median round shown
beside every round's ratio (the measuring boots the guest; here its parts are stand-ins)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tracer.bench import stops
from tracer.cli import main
from tracer.probes.kinds import AgentProbe, ProbeKind


def test_rounds_below_one_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--rounds", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tracer bench: ") and len(err.splitlines()) == 1


def test_the_median_round_is_shown_beside_every_rounds_ratio(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tracer.target.bench as target_bench

    ratios = iter([1.9, 1.2, 1.5])
    turns: list[str] = []

    def fake_capture(options: Any) -> Any:
        turns.append("tracer")
        plan = SimpleNamespace(
            probes=[AgentProbe(0x10, ProbeKind.SYSCALL_ENTRY), AgentProbe(0x20, ProbeKind.WRMSR)],
            agent_plan=lambda **kw: {"probes": ["planned"], "cpus": kw["cpus"]},
            lifts_sites=lambda cpus: cpus == 1,
        )
        return SimpleNamespace(plan=plan)

    configs: list[Any] = []

    def fake_bare(kernel: Path, config: Any, addrs: list[int], *args: Any, **kw: Any) -> Any:
        turns.append(f"bare lifting {kw['lifted']}" if "lifted" in kw else "bare")
        configs.append(config)
        assert addrs == [0x10]  # the syscall probes' sites
        return SimpleNamespace(per_second=900.0, stops=100)

    def fake_alone(kernel: Path, config: Any, plan: dict[str, Any], *args: Any) -> Any:
        turns.append("alone")
        assert plan == {"probes": ["planned"], "cpus": 1}  # the capture's own plan, as installed
        return SimpleNamespace(per_second=800.0)

    def fake_round(
        trace: Path, bare: Any, alone: Any, bare_lifted: Any, bare_watch: Any
    ) -> dict[str, Any]:
        assert bare_watch is None  # the plan takes no syscall by watchpoints
        ratio = next(ratios)
        return {
            "per_stop_cost_vs_bare_gdb": ratio,
            "syscalls_per_s": round(450 / ratio, 1),
            "bare_gdb_syscalls_per_s": 450.0,
            "agent_alone_cost_vs_bare_gdb": bare.per_second / alone.per_second,
            "tracer_cost_vs_agent_alone": ratio,
        }

    monkeypatch.setattr(stops, "capture", fake_capture)
    monkeypatch.setattr(stops, "_round_figures", fake_round)
    monkeypatch.setattr(stops, "_fuzzer_options", lambda n, out, icount: SimpleNamespace(
        kernel=Path("k"), qemu_config=lambda: {"icount": icount}, output=out, smp=1))  # fmt: skip
    monkeypatch.setattr(target_bench, "bare_gdb_rate", fake_bare)
    monkeypatch.setattr(target_bench, "agent_alone_rate", fake_alone)
    monkeypatch.setattr(
        target_bench, "mi_roundtrip_rate", lambda *a, **k: SimpleNamespace(per_second=5, stops=9)
    )
    figures = stops.stop_figures(10, 9, rounds=3, icount="shift=0")
    assert turns == ["tracer", "bare", "bare lifting [16]", "alone"] * 3
    assert configs == [{"icount": "shift=0"}] * 6 and figures["icount"] == "shift=0"
    assert figures["per_stop_cost_vs_bare_gdb"] == 1.5
    assert figures["per_round_cost_vs_bare_gdb"] == [1.9, 1.2, 1.5]
    assert figures["per_round_agent_alone_vs_bare_gdb"] == [1.125] * 3
    assert figures["per_round_tracer_vs_agent_alone"] == [1.9, 1.2, 1.5]
    assert figures["rounds"] == 3 and figures["mi_stops"] == 9
    assert figures["per_round_bare_gdb_syscalls_per_s"] == [450.0] * 3


def test_a_round_counts_the_bare_loops_own_syscalls_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bare loop's stops are the same sites (2 a syscall): its syscalls/s is what the
    tracer would reach at 1.0x the ceiling per stop, printed beside the goal."""
    import contextlib

    times = {"syscall_entry": [n * 100_000_000 for n in range(10)]}  # 10 syscalls over 0.9 s
    times["syscall_exit"] = [t + 50_000_000 for t in times["syscall_entry"]]

    class Reader:
        meta = {"agent_handled": "22"}

        def events(self, kinds: str | None = None) -> list[Any]:
            picked = [kinds] if kinds else list(times)
            return [SimpleNamespace(time_ns=t, cpu=0) for k in picked for t in times[k]]

    monkeypatch.setattr(
        stops.TraceReader, "open", staticmethod(lambda path: contextlib.nullcontext(Reader()))
    )
    rate = SimpleNamespace(per_second=500.0, stops=20)
    alone = SimpleNamespace(
        syscall=SimpleNamespace(per_second=400.0), handled=SimpleNamespace(stops=22),
        entries=10, stop_us=300.0,
    )  # fmt: skip
    figures = stops._round_figures(Path("round.db"), rate, alone, rate)
    assert figures["syscalls_traced"] == 10
    assert figures["bare_gdb_syscalls_per_s"] == 250.0  # 500 stops/s, 20 stops for 10 syscalls
    assert figures["syscalls_per_s"] == round(10 / 0.95, 1)
    assert figures["bare_watch_syscalls_per_s"] is None
    # With the syscalls by watchpoints, the bare watchpoint loop's syscalls a second beside.
    watch = SimpleNamespace(per_second=21.0, stops=30)
    figures = stops._round_figures(Path("round.db"), rate, alone, rate, watch)
    assert figures["bare_watch_syscalls_per_s"] == 21.0
    assert figures["syscall_cost_vs_bare_watch"] == round(21.0 / (10 / 0.95), 3)


def test_a_batch_gdb_that_wrote_no_figures_is_one_line(tmp_path: Path) -> None:
    import subprocess

    from tracer.target.bench import _figures_written
    from tracer.target.errors import GdbError

    done = subprocess.CompletedProcess([], 1, b"", b"Reading symbols...\nNo module named 'x'\n")
    with pytest.raises(GdbError, match=r"^the agent alone reported nothing: No module named 'x'$"):
        _figures_written(tmp_path / "none", done, "the agent alone")
    (tmp_path / "out").write_text("12 0.5\n")
    assert _figures_written(tmp_path / "out", done, "the bare loop") == ["12", "0.5"]


def test_the_bare_read_beside_the_drain_is_the_median_of_several_runs() -> None:
    """One 2 MiB read loop moves by tens of percent with the machine: the drain's ratio is
    taken against the median of a few, not against whichever one came first."""
    from tracer.capture.arming import BARE_READ_RUNS, Arming

    meta: dict[str, str] = {}
    times = iter([900, 100, 500, 300, 700] + [1000] * 10)  # ns per run, in turn
    assert BARE_READ_RUNS == 5
    target = SimpleNamespace(
        read_memory=lambda addr, size: (64).to_bytes(size, "little"),
        bench_read=lambda addr, size, reps: {"bytes": size * reps, "ns": next(times)},
    )
    loop = SimpleNamespace(
        options=SimpleNamespace(read_msrs=False, ftrace=False),
        plan=SimpleNamespace(ring=None),
        writer=SimpleNamespace(set_meta=meta.__setitem__),
    )
    ring = SimpleNamespace(rings=0x1000, ring_fields={"entries": (8, 8)})
    Arming(loop)._measure_read(target, ring)  # type: ignore[arg-type]
    assert meta["bare_read_ns"] == "500"
    assert meta["bare_read_bytes"] == str(65536 * 32)
