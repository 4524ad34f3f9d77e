"""pt_regs layout, decoding and the entry consistency check."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tracer.decode.ptregs import (
    LINUX_PT_REGS,
    LINUX_PT_REGS_SIZE,
    PT_REGS_SYSCALL_ARGS,
    PtRegsLayout,
    check_pt_regs_at_entry,
    decode_pt_regs,
    encode_pt_regs,
    pt_regs_size,
    pt_regs_syscall_args,
    pt_regs_syscall_nr,
    pt_regs_user_flags,
    pt_regs_user_ip,
    pt_regs_user_sp,
)

ENOSYS = (-38) & ((1 << 64) - 1)

ENTRY = {
    "r15": 0xF15,
    "r14": 0xF14,
    "r13": 0xF13,
    "r12": 0xF12,
    "bp": 0x7FFC0000F000,
    "bx": 0xB,
    "r11": 0x246,
    "r10": 0x22,
    "r9": 0,
    "r8": 0xFFFFFFFF,
    "ax": ENOSYS,
    "cx": 0x401234,
    "dx": 3,
    "si": 8192,
    "di": 0,
    "orig_ax": 9,
    "ip": 0x401234,
    "cs": 0x33,
    "flags": 0x246,
    "sp": 0x7FFC0000E000,
    "ss": 0x2B,
}


def test_linux_layout() -> None:
    assert LINUX_PT_REGS[0] == ("r15", 0, 8)
    assert LINUX_PT_REGS[15] == ("orig_ax", 120, 8)
    assert LINUX_PT_REGS[16] == ("ip", 128, 8)
    assert LINUX_PT_REGS[-1] == ("ss", 160, 8)
    assert pt_regs_size(LINUX_PT_REGS) == LINUX_PT_REGS_SIZE == 168
    offsets = [offset for _, offset, _ in LINUX_PT_REGS]
    assert offsets == list(range(0, 168, 8))
    assert PT_REGS_SYSCALL_ARGS == ("di", "si", "dx", "r10", "r8", "r9")


def test_round_trip() -> None:
    data = encode_pt_regs(ENTRY)
    assert len(data) == 168
    assert data[120:128] == (9).to_bytes(8, "little")
    regs = decode_pt_regs(data, LINUX_PT_REGS)
    assert dict(regs) == ENTRY
    assert [name for name, _ in regs] == [name for name, _, _ in LINUX_PT_REGS]
    assert encode_pt_regs(regs) == data


def test_decode_with_a_dwarf_style_layout() -> None:
    layout = [("ip", 0, 8), ("cs", 8, 2), ("flags", 16, 8)]
    data = (0x401000).to_bytes(8, "little") + b"\x33\x00\xff\xff\xff\xff\xff\xff"
    data += (0x202).to_bytes(8, "little")
    assert decode_pt_regs(data, layout) == (("ip", 0x401000), ("cs", 0x33), ("flags", 0x202))


@pytest.mark.parametrize(
    "layout",
    [
        (("b", 8, 8), ("a", 0, 8)),  # out of order: read in the layout's order all the same
        (("a", 0, 8), ("b", 4, 4)),  # overlapping
        (("a", 0, 3), ("b", 3, 5)),  # sizes no struct code has
        (("a", 2, 1), ("b", 6, 2), ("c", 12, 4)),  # holes before, between and at the end
    ],
)
def test_any_layout_reads_each_field_at_its_offset(layout: PtRegsLayout) -> None:
    data = bytes(range(1, 25))
    expected = tuple((n, int.from_bytes(data[o : o + size], "little")) for n, o, size in layout)
    assert decode_pt_regs(data, layout) == expected
    assert decode_pt_regs(data, list(layout)) == expected
    assert decode_pt_regs(data, [list(field) for field in layout]) == expected  # from JSON
    needed = max(o + size for _, o, size in layout)
    with pytest.raises(ValueError, match=f"needs {needed} bytes"):
        decode_pt_regs(data[: needed - 1], layout)


def test_short_data_is_an_error() -> None:
    with pytest.raises(ValueError, match="168 bytes, got 160"):
        decode_pt_regs(bytes(160))


def test_syscall_view_of_pt_regs() -> None:
    regs = decode_pt_regs(encode_pt_regs(ENTRY))
    assert pt_regs_syscall_nr(regs) == 9
    assert pt_regs_syscall_args(regs) == (0, 8192, 3, 0x22, 0xFFFFFFFF, 0)
    assert pt_regs_user_ip(regs) == 0x401234
    assert pt_regs_user_sp(regs) == 0x7FFC0000E000
    assert pt_regs_user_flags(regs) == 0x246
    assert pt_regs_syscall_nr(ENTRY) == 9
    with pytest.raises(KeyError, match="orig_ax"):
        pt_regs_syscall_nr({"ip": 1})


def test_entry_check_agrees_with_the_cpu_state() -> None:
    regs = decode_pt_regs(encode_pt_regs(ENTRY))
    assert check_pt_regs_at_entry(regs, 0x401234, 0x246, 0x7FFC0000E000, 9) == []


def test_entry_check_reports_each_disagreement() -> None:
    regs = {**ENTRY, "ip": 0x401236, "orig_ax": 0}
    assert check_pt_regs_at_entry(regs, 0x401234, 0x202, 0x7FFC0000E000, 9) == [
        "pt_regs ip 0x401236 != RCX 0x401234",
        "pt_regs flags 0x246 != R11 0x202",
        "pt_regs orig_ax 0x0 != RAX 0x9",
    ]
    partial = {name: value for name, value in ENTRY.items() if name != "sp"}
    assert check_pt_regs_at_entry(partial, 0x401234, 0x246, 0x7FFC0000E000, 9) == [
        "pt_regs has no sp (expected user RSP 0x7ffc0000e000)"
    ]


def test_decode_package_imports_only_the_standard_library() -> None:
    """The gdb agent imports tracer.decode inside gdb's Python: the standard library, decode
    itself and tracer.events (stdlib only, see test_layers) are all it may need."""
    root = Path(__file__).resolve().parents[2] / "tracer" / "decode"
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                ok = top in sys.stdlib_module_names or name.startswith("tracer.decode")
                ok = ok or name == "tracer.events"
                assert ok, f"{path.name} imports {name}"
