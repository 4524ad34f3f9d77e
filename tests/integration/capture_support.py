"""Helpers for tests that capture the real guest: build it once, capture with the truth log on."""

from __future__ import annotations

import json
import shutil
import subprocess
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
    **extra: object,
) -> Captured:
    tmp.mkdir(parents=True, exist_ok=True)
    truth_log = tmp / "truth.jsonl"
    options = CaptureOptions(
        kernel=KERNEL,
        boot_image=BOOT_IMAGE,
        programs=[Program(USER / name, args) for name, args in programs],
        output=tmp / f"trace-{mode.value}.db",
        cmdline=cmdline,
        mode=mode,
        read_msrs=read_msrs,
        debugcon=truth_log,
        **{"timeout": 240, "idle_timeout": 60, **extra},
    )
    result = capture(options)
    with TraceReader.open(options.output) as reader:
        events = list(reader.events())
    truth = []
    if truth_log.exists():
        for line in truth_log.read_text().splitlines():
            if line.strip():
                truth.append(json.loads(line))
    return Captured(result, events, truth, options.output)
