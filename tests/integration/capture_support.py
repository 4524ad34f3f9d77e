"""Helpers for tests that capture the real guest: build it once, capture with the truth log on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tracer.capture import CaptureOptions, CaptureResult, Program, capture
from tracer.events import Event
from tracer.probes.plan import Mode
from tracer.store import TraceReader

REPO = Path(__file__).resolve().parents[2]
KERNEL = REPO / "guest" / "build" / "kernel.elf"
BOOT_IMAGE = REPO / "guest" / "build" / "kernel.bin"
USER = REPO / "guest" / "build" / "user"
sys.path.insert(0, str(REPO / "qemu"))
import qemu_profiles  # noqa: E402 - the guest's host-side helpers (the truth log in RAM)


def require_qemu_and_gdb() -> None:
    for tool in ("qemu-system-x86_64", "gdb"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


def build_guest() -> None:
    require_qemu_and_gdb()
    proc = subprocess.run(
        ["make", "-C", str(REPO / "guest"), "-j2"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"make -C guest failed: {proc.stderr[-2000:]}")


@dataclass
class Captured:
    result: CaptureResult
    events: list[Event]
    truth: list[dict]
    trace: Path


def run_capture(
    tmp: Path,
    programs: list[tuple[str, tuple[str, ...]]],
    *,
    mode: Mode = Mode.DEFAULT,
    cmdline: str = "gtlog=1",
    read_msrs: bool = True,
    memory_mb: int = 256,
    **extra: object,
) -> Captured:
    tmp.mkdir(parents=True, exist_ok=True)
    truth_log = tmp / "truth.jsonl"
    # The truth log in guest RAM (gtlog=mem), read once the guest has ended: the debug port
    # costs ~3 us a byte under TCG, which doubled a capture of the threaded programs.
    in_ram = "gtlog=1" in cmdline.split()
    if in_ram:
        cmdline = " ".join("gtlog=mem" if w == "gtlog=1" else w for w in cmdline.split())
    ram_file = Path(qemu_profiles.new_ram_file(memory_mb)) if in_ram else None
    spill = tmp / "truth-port.jsonl" if in_ram else truth_log
    options = CaptureOptions(
        kernel=KERNEL,
        boot_image=BOOT_IMAGE,
        programs=[Program(USER / name, args) for name, args in programs],
        output=tmp / f"trace-{mode.value}.db",
        cmdline=cmdline,
        mode=mode,
        read_msrs=read_msrs,
        debugcon=spill,
        ram_file=ram_file,
        memory_mb=memory_mb,
        **{"timeout": 240, "idle_timeout": 60, **extra},
    )
    try:
        result = capture(options)
        if ram_file is not None:
            truth_log.write_bytes(qemu_profiles.read_gtlog(ram_file, spill, KERNEL))
    finally:
        if ram_file is not None:
            os.unlink(ram_file)
    with TraceReader.open(options.output) as reader:
        events = list(reader.events())
    truth = []
    if truth_log.exists():
        for line in truth_log.read_text().splitlines():
            if line.strip():
                truth.append(json.loads(line))
    return Captured(result, events, truth, options.output)
