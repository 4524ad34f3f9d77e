"""capture: one capture from boot to the trace file's last event.

`options` (what to do, what came of it), `control` (stop, pause and step from outside),
`loop` (records in, events out, written against the Target Protocol), `pausing` and `arming`
(the stops the tracer causes), `run` (`capture()`). Imports `probes/`, `image/`, `store/` and
`target/`; used by `api.py`, `commands/`, `tui/` and the pytest plugin.
"""

from tracer.capture.control import (
    CaptureControl,
    CaptureInterrupted,
    CaptureTerminated,
    StopRequest,
    signals_stop,
)
from tracer.capture.loop import CaptureLoop
from tracer.capture.options import (
    ABNORMAL_ENDS,
    CaptureOptions,
    CaptureResult,
    CaptureStats,
    Program,
    ProgramExit,
    console_tail,
)
from tracer.capture.run import TargetFactory, capture, plan_capture, qemu_target

__all__ = [
    "ABNORMAL_ENDS",
    "CaptureControl",
    "CaptureInterrupted",
    "CaptureLoop",
    "CaptureOptions",
    "CaptureResult",
    "CaptureStats",
    "CaptureTerminated",
    "Program",
    "ProgramExit",
    "StopRequest",
    "TargetFactory",
    "capture",
    "console_tail",
    "plan_capture",
    "qemu_target",
    "signals_stop",
]
