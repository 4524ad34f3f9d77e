"""How long a capture's start-up takes on a big vmlinux, up to booting it: the kernel opened
(`open_linux`: the stripped copy for gdb and symbols, the layouts from DWARF) and the probes
planned (disassembly of the entry path and every wrmsr/wr{fs,gs}base site), the first time
(empty cache) and from the cache.
Each run is a fresh Python process, so imports are counted as a capture would see them (with
Python's bytecode cache). The cache holds the stripped copy, the DWARF layout and the decoded
symbol table, each under the kernel's build-id or bytes.

    python -m tracer.linux.bench_startup [VMLINUX] [--gdb] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_STARTUP = """
import json, sys, time
start = time.monotonic()
from pathlib import Path
from tracer.capture.linux import open_linux
from tracer.capture.options import CaptureOptions
from tracer.capture.run import adapt_plan, plan_capture
vmlinux = Path(sys.argv[1])
probes = frozenset({"syscall", "msr", "segbase"})  # Linux's default
options = CaptureOptions(vmlinux, vmlinux, (), Path("unused.db"), probes=probes)
linux = open_linux(options, None)
opened = time.monotonic() - start
plan = plan_capture(options, linux.image)
adapt_plan(plan, linux, probes)
layout = linux.kernel.layout
print(json.dumps({"total": time.monotonic() - start, "opened": opened,
                  "probes": len(plan.probes), "pt_regs": layout.pt_regs.size,
                  "pid": layout.task_pid, "comm": layout.task_comm,
                  "current_task": layout.current_task,
                  "symbols": len(linux.kernel.symbols.symbols)}))
"""


def _run(vmlinux: Path, cache: Path) -> dict[str, Any]:
    """One start-up in a fresh process, with `cache` as the tracer's cache directory."""
    # Python's own bytecode cache on, as an installed tracer has it: compiling the tracer's
    # modules (0.4 s when PYTHONDONTWRITEBYTECODE is set) is no part of its start-up.
    env = {**os.environ, "TRACER_CACHE": str(cache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run([sys.executable, "-c", _STARTUP, str(vmlinux)], env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    figures: dict[str, Any] = json.loads(out.stdout)
    return figures


def _gdb(vmlinux: Path) -> tuple[float, str]:
    start = time.monotonic()
    out = subprocess.run(
        ["gdb", "-nx", "-batch", "-ex", "ptype/o struct pt_regs",
         "-ex", "print &((struct task_struct *)0)->pid",
         "-ex", "print &((struct task_struct *)0)->comm", str(vmlinux)],
        capture_output=True, text=True,
    )  # fmt: skip
    size = next((ln.strip() for ln in out.stdout.splitlines() if "total size" in ln), "?")
    return time.monotonic() - start, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vmlinux", nargs="?", type=Path)
    parser.add_argument("--gdb", action="store_true", help="also time gdb -batch (2 GB, slow)")
    parser.add_argument("--runs", type=int, default=3, help="cached start-ups (the median)")
    args = parser.parse_args(argv)
    vmlinux = args.vmlinux
    if vmlinux is None:
        from tracer.linux.packages import PackageUnavailable, fetch_kernel

        try:
            vmlinux = fetch_kernel(debug=True).vmlinux
        except PackageUnavailable as exc:
            print(f"bench_startup: no vmlinux given and none to fetch: {exc}", file=sys.stderr)
            return 2
    cache = Path(tempfile.mkdtemp(prefix="tracer-bench-cache-"))
    try:
        first = _run(vmlinux, cache)
        # The cached start-up is short enough for the machine's load to move it: the median.
        runs = sorted((_run(vmlinux, cache) for _ in range(args.runs)), key=lambda r: r["total"])
        cached = runs[len(runs) // 2]
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print(f"{vmlinux} ({vmlinux.stat().st_size / 1e6:.0f} MB)")
    print(f"  pt_regs {first['pt_regs']} bytes, task_struct.pid {first['pid']:#x}, "
          f".comm {first['comm']:#x}, current_task per-CPU {first['current_task']:#x}")  # fmt: skip
    print(f"  {first['symbols']} symbols, {first['probes']} probe sites planned")
    print(
        f"  first start-up:  {first['total']:6.2f} s  (kernel opened in "
        f"{first['opened']:.2f} s: objcopy --strip-debug, DWARF read; then the probe plan)"
    )
    print(
        f"  cached start-up: {cached['total']:6.2f} s  (median of {args.runs}; kernel opened in "
        f"{cached['opened']:.2f} s: stripped copy, layout and symbols cached; then the probe plan)"
    )
    if args.gdb:
        seconds, size = _gdb(vmlinux)
        print(f"  gdb -batch ptype/o struct pt_regs: {seconds:6.2f} s ({size})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
