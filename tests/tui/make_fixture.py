"""Record the TUI's test traces: `python -m tests.tui.make_fixture` (boots the guest; needs QEMU).

hello-tls.db: hello-musl then tls-musl on the built-in guest (TLS scheme `linux`, clean).
tls-broken.db: tls-musl with `tls=broken`, where the kernel runs on the app's TCB (violations).
hello-glibc.db: the static glibc hello as `tracer capture` records it by default (with the
function graph), beside its own kernel-glibc.elf.
smp-musl.db: the musl pthread program on two vCPUs (threads on both, do_syscall_64 graphed by
breakpoints), beside its own kernel-smp.elf.
Beside them: the kernel and the programs they ran, the meta naming them relative to the trace
file, so the fixtures show the same thing on any machine. Each is kept under 1 MB.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tracer.cli import main as tracer_main
from tracer.guest import BUILTIN_KERNEL, builtin_program
from tracer.store import TraceReader, TraceWriter

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRACE = FIXTURES / "hello-tls.db"
BROKEN = FIXTURES / "tls-broken.db"
GLIBC = FIXTURES / "hello-glibc.db"
SMP = FIXTURES / "smp-musl.db"
PROGRAMS = ("hello-musl", "tls-musl")
MAX_EVENTS = 1400
_WRITER_META = {
    "format",
    "schema_version",
    "complete",
    "started_at",
    "ended_at",
    "event_count",
    "event_counts",
    "time_ordered",
    "end_time_ns",
}


def record(
    out: Path,
    programs: tuple[str, ...],
    cmdline: str = "",
    kernel: str = "kernel.elf",
    options: tuple[str, ...] = (),
    max_events: int = MAX_EVENTS,
) -> Path:
    FIXTURES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.db"
        argv = ["capture", "-q", "-o", str(raw), "--max-events", str(max_events), *options]
        if cmdline:
            argv += ["--cmdline", cmdline]
        for name in programs:
            name, _, args = name.partition(" ")
            argv += ["--program", str(builtin_program(name))] + (["--args", args] if args else [])
        tracer_main(argv)  # a broken guest exits non-zero: the trace is what counts
        if not raw.exists():
            raise SystemExit("capture failed")
        with TraceReader.open(raw) as reader:
            meta = {k: v for k, v in reader.meta.items() if k not in _WRITER_META}
            meta["kernel"] = kernel
            meta["programs"] = " ".join(name.split()[0] for name in programs)
            with TraceWriter(out, meta, overwrite=True) as writer:
                for event in reader.events():
                    writer.append(event)
    shutil.copyfile(BUILTIN_KERNEL, FIXTURES / kernel)
    for name in programs:
        if name in PROGRAMS:  # the static glibc program is too big to keep
            shutil.copyfile(builtin_program(name), FIXTURES / name)
    return out


def record_glibc() -> Path:
    """hello-glibc.db: the default capture (function graph included) of the static glibc
    hello, with its own kernel copy (kernel-glibc.elf) so re-recording it moves nothing else."""
    return record(GLIBC, ("hello-glibc",), kernel="kernel-glibc.elf")


def record_smp() -> Path:
    """smp-musl.db: two threads of the musl pthread program on two vCPUs, kept small."""
    options = ("--smp", "2", "--no-ftrace", "--graph", "do_syscall_64")
    return record(SMP, ("pthread-musl 2 5",), kernel="kernel-smp.elf", options=options,
                  max_events=2600)  # fmt: skip


def record_all() -> list[Path]:
    return [
        record(TRACE, PROGRAMS),
        record(BROKEN, ("tls-musl",), "tls=broken"),
        record_glibc(),
        record_smp(),
    ]


if __name__ == "__main__":
    for path in record_all():
        print(path, path.stat().st_size, "bytes")
