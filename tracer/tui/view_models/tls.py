"""The TLS panel: FS base and its owner, whether fs:0 points to itself, and the thread-local
variables the kernel and the program declare. Values the trace did not record say so."""

from __future__ import annotations

from dataclasses import dataclass

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


def build_tls_view(
    moment: Moment,
    kernel_variables: tuple[TlsVariable, ...] = (),
    program_variables: tuple[TlsVariable, ...] = (),
    program: str = "",
    fs0: int | None = None,
) -> TlsView:
    """`fs0` is the word at fs:0 if the trace recorded it (no event carries it yet)."""
    fs = moment.bases["fs"]
    notes = []
    if fs0 is None:
        notes.append(
            "this trace records no TLS block contents: fs:0 and variable values are "
            "not recorded (TLS events arrive with issue 4)"
        )
    return TlsView(
        fs=fs,
        gs=moment.bases["gs"],
        self_pointer=self_pointer_text(fs.value, fs0),
        kernel_variables=kernel_variables,
        program_variables=program_variables,
        program=program,
        notes=tuple(notes),
    )
