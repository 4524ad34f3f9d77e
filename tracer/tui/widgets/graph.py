"""The function-graph tab: ftrace-style call trees arrive with issue 5; until then it says so."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

PLACEHOLDER = """\
function graph: not recorded in this trace

The ftrace-style call graph (kernel functions called inside each syscall, with durations and
markers, synchronised with the timeline) needs function entry/exit events, which the tracer
does not record yet (issue 5). This tab will show them at the selected moment:

   0)               |  do_syscall_64() {
   0)   0.412 us    |    sys_write();
   0)   1.020 us    |  }
"""


class GraphPanel(Static):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text(PLACEHOLDER, style="dim"), id=id)
