"""The TLS panel: FS base and its owner, whether fs:0 points to itself, and the thread-local
variables the kernel and the program declare. Values the trace did not record say so."""

from __future__ import annotations

from dataclasses import dataclass

from tracer.events import TlsSnapshot
from tracer.tui.view_models.moment import BaseValue, Moment

NOT_RECORDED = "not recorded"


@dataclass(frozen=True, slots=True)
class TlsVariable:
    name: str
    tp_offset: int | None
    size: int
    value: str = NOT_RECORDED


@dataclass(frozen=True)
class TlsView:
    fs: BaseValue
    gs: BaseValue
    self_pointer: str  # "yes", "no: fs:0 = 0x...", or "not recorded"
    kernel_variables: tuple[TlsVariable, ...]
    program_variables: tuple[TlsVariable, ...]
    program: str  # which program's variables are listed
    notes: tuple[str, ...] = ()


def self_pointer_text(fs_base: int | None, fs0: int | None) -> str:
    if fs_base is None or fs0 is None:
        return NOT_RECORDED
    if fs0 == fs_base:
        return f"yes: fs:0 = {fs0:#x}"
    return f"NO: fs:0 = {fs0:#x}, FS base {fs_base:#x}"


def value_text(value: int) -> str:
    """`0x2a (42)`, or for a word of printable bytes also the text: `0x6c...74 "thread-l"`."""
    raw = value.to_bytes(8, "little", signed=False) if 0 <= value < 1 << 64 else b""
    text = raw.rstrip(b"\0")
    if len(text) >= 2 and all(32 <= b < 127 for b in text):
        return f'{value:#x} "{text.decode()}"'
    return f"{value:#x} ({value})"


def _with_values(
    variables: tuple[TlsVariable, ...], values: dict[str, int | None]
) -> tuple[TlsVariable, ...]:
    def text(value: int | None) -> str:
        return NOT_RECORDED if value is None else value_text(value)

    out = [TlsVariable(v.name, v.tp_offset, v.size, text(values.get(v.name))) for v in variables]
    named = {v.name for v in variables}
    # Recorded, but not among the image's TLS symbols (another image, or a stripped one).
    out.extend(TlsVariable(n, None, 0, text(v)) for n, v in values.items() if n not in named)
    return tuple(out)


def build_tls_view(
    moment: Moment,
    kernel_variables: tuple[TlsVariable, ...] = (),
    program_variables: tuple[TlsVariable, ...] = (),
    program: str = "",
    snapshot: TlsSnapshot | None = None,
) -> TlsView:
    """`snapshot` is the last TLS block the trace read on this CPU, if any; it counts only
    while FS base still holds the block it read."""
    fs = moment.bases["fs"]
    notes = []
    if snapshot is not None and fs.value is not None and snapshot.fs_base != fs.value:
        notes.append(
            f"the last TLS snapshot (#{snapshot.seq}) read another block ({snapshot.fs_base:#x})"
        )
        snapshot = None
    fs0 = None
    if snapshot is None:
        notes.append(
            "no TLS snapshot at this moment: fs:0 and variable values are not recorded "
            "(captures record them with the TLS probes of issue 4)"
        )
    else:
        fs0 = snapshot.self_pointer
        program_variables = _with_values(program_variables, dict(snapshot.variables))
        owner = f" ({snapshot.owner})" if snapshot.owner else ""
        notes.append(f"values from the TLS snapshot #{snapshot.seq}{owner}")
    return TlsView(
        fs=fs,
        gs=moment.bases["gs"],
        self_pointer=self_pointer_text(fs.value, fs0),
        kernel_variables=kernel_variables,
        program_variables=program_variables,
        program=program,
        notes=tuple(notes),
    )
