"""report, check and export on a Linux trace open its kernel as the TUI does: Debian's
bzImage under KASLR, symbols from the System.map the capture named (fixtures/, beside the
trace, named relative to it). MSR values are where the kernel ran; the pcs where it was linked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tracer.image.symbol_map import SymbolMap
from tracer.image.trace_kernel import TraceKernel
from tracer.store import TraceReader
from tracer.tui.open_trace import OpenTrace

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRACE = FIXTURES / "linux-hello-musl.db"


def tracer(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """From another folder than the trace's: its meta paths are relative to the trace."""
    return subprocess.run([sys.executable, "-m", "tracer.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_report_msr_names_the_slid_lstar(tmp_path: Path) -> None:
    with TraceReader.open(TRACE) as reader:
        lstar = int(reader.meta["msr.LSTAR"], 16)
        slide = int(reader.meta["kaslr_slide"], 16)
    linked = SymbolMap.open(FIXTURES / "linux-entry.map").address_of("entry_SYSCALL_64")
    assert slide and lstar - slide == linked  # LSTAR is the moved address, not the map's
    done = tracer("report", "--msr", TRACE, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stdout.splitlines() if "rdmsr LSTAR" in ln)
    assert line.endswith(f"= {lstar:#x} <entry_SYSCALL_64>")


def test_report_names_link_time_pcs_from_the_map(tmp_path: Path) -> None:
    done = tracer("report", "--segbase", TRACE, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    set_fs = next(ln for ln in done.stdout.splitlines() if "arch_prctl at" in ln)
    assert "<do_arch_prctl_64+0x" in set_fs


def test_check_reads_the_same_kernel(tmp_path: Path) -> None:
    check = tracer("check", "--json", TRACE, cwd=tmp_path)
    assert check.returncode == 0 and json.loads(check.stdout) == [], check.stdout


def test_the_trace_kernel_is_the_tuis() -> None:
    with TraceReader.open(TRACE) as reader:
        kernel = TraceKernel.of(reader.meta, TRACE)
        assert OpenTrace(reader, TRACE).kernel == kernel
    assert kernel.path == FIXTURES / "linux-entry.elf" and kernel.symbols is not None
    symbolize = kernel.open().symbolize
    lstar = 0xFFFFFFFF9A200080  # the trace's, at slide 0x18600000
    assert symbolize(lstar) is None and kernel.running(symbolize)(lstar) == "entry_SYSCALL_64"
