"""What the tracer reads of a Linux kernel's types: `struct pt_regs`, `task_struct`'s pid and
comm, and the per-CPU `current_task`. From DWARF when the vmlinux has it (looked up by name,
never by walking all of it), cached as JSON by build-id; without DWARF, pt_regs has the x86-64
ABI layout and the process fields are unknown."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tracer.image.dwarf import Field, StructLayout, struct_layout, variable_type_name
from tracer.image.elf import ElfImage
from tracer.image.notes import build_id

from .packages import cache_root

_FORMAT = 1
# uapi asm/ptrace.h for x86-64: what the entry code pushes, lowest address first.
_PT_REGS_ABI = (
    "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si",
    "di", "orig_ax", "ip", "cs", "flags", "sp", "ss",
)  # fmt: skip
PT_REGS_ABI = StructLayout(
    "struct pt_regs",
    8 * len(_PT_REGS_ABI),
    tuple(Field(name, 8 * i, 8, "unsigned long") for i, name in enumerate(_PT_REGS_ABI)),
)
TASK_FIELDS = ("pid", "comm")


@dataclass(frozen=True)
class LinuxLayout:
    pt_regs: StructLayout
    task_struct: StructLayout | None  # only TASK_FIELDS; None without DWARF
    current_task: int | None  # the per-CPU offset of `current_task` (from the symbols)
    current_task_type: str | None  # "struct task_struct *" when DWARF says so
    from_dwarf: bool
    build_id: str | None = None

    @property
    def task_pid(self) -> int | None:
        field = self.task_struct.field("pid") if self.task_struct else None
        return field.offset if field else None

    @property
    def task_comm(self) -> int | None:
        field = self.task_struct.field("comm") if self.task_struct else None
        return field.offset if field else None


def dwarf_cache_dir() -> Path:
    return cache_root() / "dwarf"


def _only(layout: StructLayout, names: tuple[str, ...]) -> StructLayout:
    return StructLayout(
        layout.name, layout.size, tuple(f for f in layout.fields if f.name in names)
    )


def abi_layout(current_task: int | None, ident: str | None = None) -> LinuxLayout:
    """What is known without DWARF: the ABI's pt_regs and, from the symbols, `current_task`."""
    return LinuxLayout(PT_REGS_ABI, None, current_task, None, False, ident)


def read_layout(image: ElfImage) -> LinuxLayout:
    """Look the types up in an opened vmlinux (ABI pt_regs when it has no DWARF)."""
    current = image.address_of("current_task")
    ident = build_id(image.path)
    if not image.has_dwarf:
        return abi_layout(current, ident)
    pt_regs = struct_layout(image, "struct pt_regs")
    task = struct_layout(image, "struct task_struct")
    return LinuxLayout(
        pt_regs=pt_regs or PT_REGS_ABI,
        task_struct=_only(task, TASK_FIELDS) if task else None,
        current_task=current,
        current_task_type=variable_type_name(image, "current_task"),
        from_dwarf=pt_regs is not None,
        build_id=ident,
    )


def _to_json(layout: LinuxLayout) -> dict[str, Any]:
    return {"format": _FORMAT, **asdict(layout)}


def _struct(data: dict[str, Any] | None) -> StructLayout | None:
    if data is None:
        return None
    fields = tuple(Field(**f) for f in data["fields"])
    return StructLayout(data["name"], data["size"], fields)


def _from_json(data: dict[str, Any]) -> LinuxLayout | None:
    if data.get("format") != _FORMAT:
        return None
    pt_regs = _struct(data["pt_regs"])
    assert pt_regs is not None
    return LinuxLayout(
        pt_regs, _struct(data["task_struct"]), data["current_task"], data["current_task_type"],
        data["from_dwarf"], data["build_id"],
    )  # fmt: skip


def cached_layout(vmlinux: Path, cache_dir: Path | None = None) -> LinuxLayout | None:
    """The layout saved for this vmlinux's build-id, without opening the ELF; None if none."""
    ident = build_id(vmlinux)
    if ident is None:
        return None
    path = (cache_dir or dwarf_cache_dir()) / f"{ident}.json"
    try:
        return _from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        return None  # absent or damaged: look it up again


def save_layout(layout: LinuxLayout, cache_dir: Path | None = None) -> None:
    """Keep a DWARF-read layout under its build-id; a stripped copy of the same build (same
    build-id) then finds it too. An ABI-only layout is not kept: it costs nothing to redo."""
    if layout.build_id is None or not layout.from_dwarf:
        return
    directory = cache_dir or dwarf_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=directory, prefix=".layout-")
    with os.fdopen(fd, "w") as out:
        json.dump(_to_json(layout), out, indent=1)
    os.replace(partial, directory / f"{layout.build_id}.json")


def linux_layout(
    vmlinux: Path, *, image: ElfImage | None = None, cache_dir: Path | None = None
) -> LinuxLayout:
    """From the cache by build-id, else from the vmlinux (`image` if already open) and cached."""
    found = cached_layout(vmlinux, cache_dir)
    if found is not None:
        return found
    layout = read_layout(image if image is not None else ElfImage.open(vmlinux))
    save_layout(layout, cache_dir)
    return layout
