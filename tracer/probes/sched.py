"""The context switch, found by Linux's names; tasks read through the task struct's DWARF."""

from __future__ import annotations

from dataclasses import dataclass

from tracer.image import ElfImage, StructLayout, find_struct_with_fields, struct_layout

SWITCH_SYMBOLS = ("__switch_to_asm", "__switch_to", "context_switch")
TASK_STRUCTS = ("task_struct", "task", "thread")


@dataclass(frozen=True)
class TaskLayout:
    """Where a task's pid and name live, as one span to read."""

    pid_offset: int
    pid_size: int
    comm_offset: int | None
    comm_size: int

    @property
    def span(self) -> tuple[int, int]:
        start = min(self.pid_offset, self.comm_offset if self.comm_offset is not None else 1 << 30)
        end = self.pid_offset + self.pid_size
        if self.comm_offset is not None:
            end = max(end, self.comm_offset + self.comm_size)
        return start, end - start

    def decode(self, data: bytes | None) -> tuple[int | None, str]:
        if data is None:
            return None, ""
        start, _ = self.span
        off = self.pid_offset - start
        pid = int.from_bytes(data[off : off + self.pid_size], "little", signed=True)
        name = ""
        if self.comm_offset is not None:
            raw = data[self.comm_offset - start : self.comm_offset - start + self.comm_size]
            name = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        return pid, name


def _task_layout(image: ElfImage) -> StructLayout | None:
    for name in TASK_STRUCTS:
        layout = struct_layout(image, name)
        if layout is not None and layout.field("pid") is not None:
            return layout
    return find_struct_with_fields(image, {"pid", "comm"})


def task_layout(image: ElfImage) -> TaskLayout | None:
    if not image.has_dwarf:
        return None
    layout = _task_layout(image)
    if layout is None:
        return None
    pid = layout.field("pid")
    comm = layout.field("comm")
    if pid is None:
        return None
    return TaskLayout(pid.offset, pid.size, comm.offset if comm else None, comm.size if comm else 0)


def find_switch(image: ElfImage) -> int | None:
    for name in SWITCH_SYMBOLS:
        sym = image.symbol(name)
        if sym is not None:
            return int(sym.addr)
    return None
