"""`tracer bench`'s measurements: the tracer's stop rate beside the bare-gdb ceiling and an MI
round trip, the function-graph ring buffer's throughput, or the stop rate on several CPUs
beside one. Figures only; nothing asserts."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from tracer.capture import CaptureOptions, Program, capture
from tracer.events import FuncEntry, FuncExit, SyscallEntry, SyscallExit
from tracer.guest import BUILTIN_KERNEL, builtin_program, ensure_guest_built, find_boot_image
from tracer.probes.registry import liftable
from tracer.store import TraceReader


def _fuzzer_options(syscalls: int, output: Path, threads: int = 1, **extra: Any) -> CaptureOptions:
    """The built-in guest running the syscall fuzzer once: the workload of every figure."""
    ensure_guest_built()
    args = (str(syscalls), "1") + ((str(threads),) if threads > 1 else ())
    return CaptureOptions(
        kernel=BUILTIN_KERNEL,
        boot_image=find_boot_image(BUILTIN_KERNEL),
        programs=[Program(builtin_program("fuzzer"), args)],
        output=output,
        read_msrs=False,
        idle_timeout=120,
        **extra,
    )


def _span_s(reader: TraceReader) -> float:
    times = [e.time_ns for e in reader.events(kinds="syscall_entry")]
    return (times[-1] - times[0]) / 1e9 if len(times) > 1 else 0.0


def graph_figures(syscalls: int) -> dict[str, Any]:
    """The ring buffer's figures, measured side by side on the same workload."""
    with tempfile.TemporaryDirectory(prefix="tracer-bench-") as tmp:
        spans = {}
        for name, ftrace in (("off", False), ("on", True)):
            options = _fuzzer_options(
                syscalls, Path(tmp) / f"{name}.db", ftrace=ftrace, measure_read=ftrace
            )
            capture(options)
            with TraceReader.open(options.output) as reader:
                spans[name] = _span_s(reader)
                if ftrace:
                    meta = reader.meta
                    funcs = [
                        e
                        for e in reader.events(kinds=("func_entry", "func_exit"))
                        if isinstance(e, FuncEntry | FuncExit) and e.guest_ns is not None
                    ]
    guest_ns = [e.guest_ns for e in funcs if e.guest_ns is not None]
    guest_s = (guest_ns[-1] - guest_ns[0]) / 1e9 if len(guest_ns) > 1 else 0.0
    drain = int(meta.get("agent_drain_bytes", 0)) / max(int(meta.get("agent_drain_ns", 1)), 1)
    bare = int(meta.get("bare_read_bytes", 0)) / max(int(meta.get("bare_read_ns", 1)), 1)
    return {
        "function_events": len(funcs),
        "events_per_guest_second": round(len(funcs) / guest_s, 1) if guest_s else None,
        "capture_seconds_tracing_off": round(spans["off"], 3),
        "capture_seconds_tracing_on": round(spans["on"], 3),
        "slowdown_on_vs_off": round(spans["on"] / spans["off"], 2) if spans["off"] else None,
        "drain_MB_per_s": round(drain * 1e3, 2),
        "bare_read_memory_MB_per_s": round(bare * 1e3, 2),
        "drain_vs_bare_read": round(drain / bare, 2) if bare else None,
        **{
            f"bare_read_MB_per_s_{key.rsplit('_', 1)[1]}_B_reads": float(value)
            for key, value in meta.items()
            if key.startswith("bare_read_MB_s_")
        },
        "bulk_drains": int(meta.get("agent_drains", 0)),
        "KiB_per_drain": round(
            int(meta.get("agent_drain_bytes", 0)) / max(int(meta.get("agent_drains", 1)), 1) / 1024,
            1,
        ),
    }


def print_graph_figures(figures: dict[str, Any], syscalls: int) -> None:
    print(f"workload: fuzzer {syscalls} on the built-in guest, TCG, ring buffer on/off")
    for key, value in figures.items():
        print(f"  {key.replace('_', ' '):40} {value}")
    print("  goals: slowdown under 3x; drain at least 0.8x the bare read_memory bandwidth")


def stop_figures(
    syscalls: int, mi_stops: int, rounds: int = 3, icount: str | None = None
) -> dict[str, Any]:
    """Stops per second: the tracer's, a bare gdb Python breakpoint's, the tracer's agent alone
    in gdb, one MI round trip's.

    The tracer, the bare loop and the agent alone run in turns, `rounds` times (the machine's
    load moves by tens of percent within a minute: a ratio means something only between
    neighbours); the figures are those of the round with the median ratio, beside every
    round's ratio. The agent alone splits the tracer's cost over the bare loop in two: what
    its probes cost inside gdb, and what the tracer process and MI add to that."""
    from tracer.target.bench import (
        agent_alone_rate,
        bare_gdb_rate,
        bare_watch_rate,
        mi_roundtrip_rate,
    )

    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tracer-bench-") as tmp:
        scratch = Path(tmp)
        for turn in range(max(rounds, 1)):
            options = _fuzzer_options(syscalls, scratch / f"bench{turn}.db", icount=icount)
            result = capture(options)
            probe_addrs = [
                p.addr for p in result.plan.probes if p.kind in ("syscall_entry", "syscall_exit")
            ]
            config = options.qemu_config()
            bare = bare_gdb_rate(options.kernel, config, probe_addrs, scratch)
            lifted = _lifted_sites(result.plan, options.smp)
            bare_lifted = bare_gdb_rate(options.kernel, config, probe_addrs, scratch, lifted=lifted)
            plan = result.plan.agent_plan(stop_first_syscall=False, cpus=options.smp)
            alone = agent_alone_rate(options.kernel, config, plan, scratch)
            watch = plan.get("watch")
            bare_watch = None
            if watch:
                call, dispatcher = watch["call"], watch["dispatcher"]
                bare_watch = bare_watch_rate(options.kernel, config, call, dispatcher, scratch)
            runs.append(_round_figures(options.output, bare, alone, bare_lifted, bare_watch))
        mi = mi_roundtrip_rate(options.kernel, config, probe_addrs, max_stops=mi_stops)
    ratio = "per_stop_cost_vs_bare_gdb"
    ranked = sorted(runs, key=lambda run: run[ratio] or 0.0)
    return {
        **ranked[len(ranked) // 2],
        "mi_roundtrip_stops_per_s": round(mi.per_second, 1),
        "mi_stops": mi.stops,
        "rounds": len(runs),
        "per_round_cost_vs_bare_gdb": [run[ratio] for run in runs],
        "per_round_agent_alone_vs_bare_gdb": [run["agent_alone_cost_vs_bare_gdb"] for run in runs],
        "per_round_tracer_vs_agent_alone": [run["tracer_cost_vs_agent_alone"] for run in runs],
        "per_round_syscalls_per_s": [run["syscalls_per_s"] for run in runs],
        "per_round_bare_gdb_syscalls_per_s": [run["bare_gdb_syscalls_per_s"] for run in runs],
        "per_round_syscall_cost_vs_bare_watch": [
            run.get("syscall_cost_vs_bare_watch") for run in runs
        ],
        "icount": icount,
    }


def _lifted_sites(plan: Any, cpus: int) -> list[int]:
    """The sites the agent lifts at their stops instead of letting gdb step over them."""
    if not plan.lifts_sites(cpus):
        return []
    return [p.addr for p in plan.probes if liftable(p.to_json())]


def _round_figures(
    trace: Path, bare: Any, alone: Any, bare_lifted: Any, bare_watch: Any = None
) -> dict[str, Any]:
    """One round: the tracer's capture (its trace) beside the bare loops (gdb stepping over
    every site; the agent's sites lifted as it does; with the tracer's syscalls by watchpoints,
    the same words watched) and the agent alone that followed it."""
    with TraceReader.open(trace) as reader:
        entries = list(reader.events(kinds="syscall_entry"))
        exits = list(reader.events(kinds="syscall_exit"))
        meta = reader.meta
        every = [e.time_ns for e in reader.events() if hasattr(e, "cpu")]
    times = sorted(e.time_ns for e in entries + exits)
    span = (times[-1] - times[0]) / 1e9 if len(times) > 1 else 0.0
    tool_stops = len(entries) + len(exits)
    tool_rate = tool_stops / span if span else 0.0
    handled = max(int(meta.get("agent_handled", 0)), 1)
    every_span = (max(every) - min(every)) / 1e9 if len(every) > 1 else 0.0
    all_rate = handled / every_span if every_span else 0.0  # interrupt-entry stops too
    return {
        "syscalls_traced": len(entries),
        # The tracer's syscall stops are watchpoints' (`syscall_watch`), the bare loops'
        # breakpoints at the same syscall sites.
        "syscalls_by_watchpoints": meta.get("agent_watching") == "1",
        "tracer_stops_per_s": round(tool_rate, 1),
        "bare_gdb_stops_per_s": round(bare.per_second, 1),
        "per_stop_cost_vs_bare_gdb": round(bare.per_second / tool_rate, 3) if tool_rate else None,
        "tracer_all_stops_per_s": round(all_rate, 1),
        "all_stops_cost_vs_bare_gdb": round(bare.per_second / all_rate, 3) if all_rate else None,
        "all_stops_per_syscall": round(handled / len(entries), 3) if entries else None,
        "stops_per_syscall": round(tool_stops / len(entries), 3) if entries else None,
        "syscalls_per_s": round(len(entries) / span, 1) if span else 0.0,
        # The same workload's syscalls a second under the bare loop (its stops are the same
        # sites): the most the tracer would reach at 1.0x the ceiling per stop.
        "bare_gdb_syscalls_per_s": (
            round(bare.per_second * len(entries) / bare.stops, 1) if bare.stops else None
        ),
        "agent_handler_us_per_stop": round(int(meta.get("agent_handler_ns", 0)) / handled / 1e3, 1),
        "agent_stop_us_per_stop": round(int(meta.get("agent_stop_ns", 0)) / handled / 1e3, 1),
        "tracer_us_per_stop": round(1e6 / tool_rate, 1) if tool_rate else None,
        "bare_gdb_us_per_stop": round(1e6 / bare.per_second, 1) if bare.per_second else None,
        "bare_gdb_stops": bare.stops,
        "bare_lifted_stops_per_s": round(bare_lifted.per_second, 1),
        "per_stop_cost_vs_bare_lifted": _ratio(bare_lifted.per_second, tool_rate),
        "agent_alone_stops_per_s": round(alone.syscall.per_second, 1),
        "agent_alone_cost_vs_bare_gdb": _ratio(bare.per_second, alone.syscall.per_second),
        "tracer_cost_vs_agent_alone": _ratio(alone.syscall.per_second, tool_rate),
        "agent_alone_all_stops_per_syscall": _ratio(alone.handled.stops, alone.entries),
        "agent_alone_stop_us": round(alone.stop_us, 1),
        "bare_watch_syscalls_per_s": round(bare_watch.per_second, 1) if bare_watch else None,
        # Per syscall: the bare watchpoint loop stops three times a syscall, the tracer twice.
        "syscall_cost_vs_bare_watch": (
            _ratio(bare_watch.per_second, len(entries) / span) if bare_watch and span else None
        ),
    }


def print_stop_figures(figures: dict[str, Any], syscalls: int) -> None:
    print(
        f"workload: fuzzer {syscalls} on the built-in guest, TCG, same probe sites; the tracer, "
        f"the bare loop and the agent alone in turns, {figures['rounds']} rounds: the median round"
        + (f"; -icount {figures['icount']} for both" if figures.get("icount") else "")
    )
    way = "watchpoints" if figures.get("syscalls_by_watchpoints") else "breakpoints"
    rows = (
        (f"tracer (syscalls by {way}; reads pt_regs...)", "tracer_stops_per_s"),
        ("bare gdb Python breakpoint (ceiling)", "bare_gdb_stops_per_s"),
        ("the same, syscall sites lifted as the agent", "bare_lifted_stops_per_s"),
        ("the agent alone in gdb (records to /dev/null)", "agent_alone_stops_per_s"),
        ("MI round trip per stop", "mi_roundtrip_stops_per_s"),
    )
    for label, key in rows:
        print(f"  {label:44} {figures[key]:9.1f} stops/s")
    print(
        f"  {'per-stop cost vs ceiling':44} {figures['per_stop_cost_vs_bare_gdb']}x"
        "   (goal <= 1.25x)"
    )
    print(
        f"  {'per-stop cost vs the lifting bare loop':44} "
        f"{figures['per_stop_cost_vs_bare_lifted']}x   (the agent's own work: both skip "
        "gdb's step over the syscall sites)"
    )
    print(f"  {'stops per syscall':44} {figures['stops_per_syscall']}     (goal <= 2)")
    print(
        f"  {'every stop the agent handled (interrupts too)':44} "
        f"{figures['tracer_all_stops_per_s']:9.1f} stops/s, "
        f"{figures['all_stops_cost_vs_bare_gdb']}x the ceiling per stop, "
        f"{figures['all_stops_per_syscall']} per syscall"
    )
    print(
        f"  {'split: agent alone vs ceiling, tracer vs it':44} "
        f"{figures['agent_alone_cost_vs_bare_gdb']}x x {figures['tracer_cost_vs_agent_alone']}x"
        f"   (inside gdb: {figures['agent_alone_stop_us']} us a stop in the agent, "
        f"{figures['agent_alone_all_stops_per_syscall']} stops per syscall; the rest: "
        "the tracer process and MI)"
    )
    print(
        f"  {'syscalls traced per second':44} {figures['syscalls_per_s']}   (goal >= 450; "
        f"the bare loop's own: {figures['bare_gdb_syscalls_per_s']})"
    )
    if figures.get("bare_watch_syscalls_per_s") is not None:
        print(
            f"  {'bare gdb watchpoints on the same two words':44} "
            f"{figures['bare_watch_syscalls_per_s']} syscalls/s: the tracer "
            f"{figures['syscall_cost_vs_bare_watch']}x its cost a syscall (every round: "
            f"{_times(figures['per_round_syscall_cost_vs_bare_watch'])})"
        )
    print(
        f"  {'every round: cost vs ceiling / syscalls/s':44} "
        f"{_times(figures['per_round_cost_vs_bare_gdb'])} / "
        f"{' '.join(str(r) for r in figures['per_round_syscalls_per_s'])} (the bare loop: "
        f"{' '.join(str(r) for r in figures['per_round_bare_gdb_syscalls_per_s'])})"
    )
    print(
        f"  {'every round: agent alone vs ceiling':44} "
        f"{_times(figures['per_round_agent_alone_vs_bare_gdb'])}; "
        f"tracer vs agent alone {_times(figures['per_round_tracer_vs_agent_alone'])}"
    )
    print(
        f"  {'us per stop: tracer / bare gdb / in agent':44} {figures['tracer_us_per_stop']}"
        f" / {figures['bare_gdb_us_per_stop']} / {figures['agent_handler_us_per_stop']}"
        f" (whole stop(): {figures['agent_stop_us_per_stop']})"
    )


# --- several CPUs (`tracer bench --smp N`) ------------------------------------------------------


def _run_figures(syscalls: int, threads: int, cpus: int, output: Path) -> dict[str, Any]:
    """One capture of the fuzzer (split over `threads` threads) on `cpus` CPUs."""
    options = _fuzzer_options(syscalls, output, threads=threads, smp=cpus)
    result = capture(options)
    with TraceReader.open(options.output) as reader:
        meta = reader.meta
        crossings = [
            e for e in reader.events(kinds=("syscall_entry", "syscall_exit"))
            if isinstance(e, SyscallEntry | SyscallExit)
        ]  # fmt: skip
    entries = [e for e in crossings if isinstance(e, SyscallEntry)]
    times = [e.time_ns for e in crossings]
    span = (max(times) - min(times)) / 1e9 if len(times) > 1 else 0.0
    handled = int(meta.get("agent_handled", 0))
    per_cpu_stops = Counter(e.cpu for e in crossings)
    per_cpu_syscalls = Counter(e.cpu for e in entries)
    return {
        "cpus": cpus,
        "reason": result.reason,
        "syscalls": len(entries),
        "seconds": round(span, 3),
        "stops_per_s": _ratio(len(crossings), span, 1),
        "stops_per_syscall": _ratio(len(crossings), len(entries)),
        "all_stops_per_syscall": _ratio(handled, len(entries)),  # interrupts, switches too
        "syscalls_per_s": _ratio(len(entries), span, 1),
        "per_cpu": {
            cpu: {
                "syscalls": per_cpu_syscalls[cpu],
                "stops_per_s": _ratio(per_cpu_stops[cpu], span, 1),
                "stops_per_syscall": _ratio(per_cpu_stops[cpu], per_cpu_syscalls[cpu]),
            }
            for cpu in sorted(per_cpu_stops)
        },
    }


def _times(ratios: list[float | None]) -> str:
    return " ".join(f"{r}x" for r in ratios)


def _ratio(a: float, b: float, digits: int = 3) -> float | None:
    return round(a / b, digits) if b else None


def smp_figures(syscalls: int, cpus: int) -> dict[str, Any]:
    """The same fuzzer workload (one thread per CPU asked for) on one CPU and on `cpus`."""
    with tempfile.TemporaryDirectory(prefix="tracer-bench-") as tmp:
        one = _run_figures(syscalls, cpus, 1, Path(tmp) / "one.db")
        many = _run_figures(syscalls, cpus, cpus, Path(tmp) / "many.db")
    ratios = {
        key: _ratio(many[key], one[key]) if many[key] and one[key] else None
        for key in ("stops_per_s", "stops_per_syscall", "syscalls_per_s")
    }
    return {"threads": cpus, "one_cpu": one, "smp": many, "smp_vs_one_cpu": ratios}


def print_smp_figures(figures: dict[str, Any], syscalls: int) -> None:
    one, many, ratios = figures["one_cpu"], figures["smp"], figures["smp_vs_one_cpu"]
    cpus = many["cpus"]
    print(
        f"workload: fuzzer {syscalls} syscalls over {figures['threads']} threads on the "
        f"built-in guest, TCG: 1 CPU against {cpus} CPUs"
    )
    print(f"  {'':28} {'1 CPU':>10} {f'{cpus} CPUs':>10} {'ratio':>8}")
    rows = (
        ("syscall stops per second", "stops_per_s"),
        ("stops per syscall", "stops_per_syscall"),
        ("syscalls traced per second", "syscalls_per_s"),
    )
    for label, key in rows:
        print(f"  {label:28} {_cell(one[key])} {_cell(many[key])} {_cell(ratios[key], 8)}")
    print(
        f"  {'all stops per syscall':28} {_cell(one['all_stops_per_syscall'])} "
        f"{_cell(many['all_stops_per_syscall'])}   (interrupts and switches too)"
    )
    for cpu, row in many["per_cpu"].items():
        print(
            f"  cpu{cpu}: {row['syscalls']} syscalls, {row['stops_per_s']} stops/s, "
            f"{row['stops_per_syscall']} stops per syscall"
        )
    for run in (one, many):
        if run["reason"] != "guest-exit":
            print(f"  warning: the {run['cpus']}-CPU capture ended by {run['reason']}")


def _cell(value: float | None, width: int = 10) -> str:
    return f"{'-' if value is None else value:>{width}}"
