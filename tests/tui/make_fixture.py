"""Record the TUI's test trace: `python -m tests.tui.make_fixture` (boots the guest; needs QEMU).

Captures hello-musl then tls-musl on the built-in guest, and stores beside the trace the kernel
and the programs it ran, the trace's meta naming them relative to the trace file, so the
fixture shows the same thing on any machine. Kept under 1 MB by `--max-events`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from tracer.cli import main as tracer_main
from tracer.commands.common import BUILTIN_KERNEL, builtin_program
from tracer.store import TraceReader, TraceWriter

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRACE = FIXTURES / "hello-tls.db"
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


def record(out: Path = TRACE) -> Path:
    FIXTURES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.db"
        argv = ["capture", "-q", "-o", str(raw), "--max-events", str(MAX_EVENTS)]
        for name in PROGRAMS:
            argv += ["--program", str(builtin_program(name))]
        if tracer_main(argv) != 0:
            raise SystemExit("capture failed")
        with TraceReader.open(raw) as reader:
            meta = {k: v for k, v in reader.meta.items() if k not in _WRITER_META}
            meta["kernel"] = "kernel.elf"
            meta["programs"] = " ".join(PROGRAMS)
            with TraceWriter(out, meta, overwrite=True) as writer:
                for event in reader.events():
                    writer.append(event)
    shutil.copyfile(BUILTIN_KERNEL, FIXTURES / "kernel.elf")
    for name in PROGRAMS:
        shutil.copyfile(builtin_program(name), FIXTURES / name)
    return out


if __name__ == "__main__":
    print(record(Path(sys.argv[1]) if len(sys.argv) > 1 else TRACE))
