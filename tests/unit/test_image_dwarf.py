"""DWARF struct layouts and variable types, from the fixture kernel's debug info."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_image_support import build_kernel

from tracer.image import (
    ElfImage,
    Field,
    ImageError,
    find_struct_with_fields,
    struct_layout,
    struct_of_variable,
    variable_type_name,
)

LINUX_PT_REGS = (
    "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di",
    "orig_ax", "ip", "cs", "flags", "sp", "ss",
)  # fmt: skip


@pytest.fixture(scope="module", params=["-g", "-gdwarf-2"])
def kernel(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ElfImage:
    """DWARF 5 (member offsets as constants) and DWARF 2 (offsets as location expressions)."""
    return ElfImage.open(build_kernel(tmp_path_factory.mktemp("kernel"), debug=request.param))


@pytest.mark.parametrize("name", ["struct pt_regs", "pt_regs", "  struct   pt_regs "])
def test_pt_regs_has_linux_layout(kernel: ElfImage, name: str) -> None:
    layout = struct_layout(kernel, name)
    assert layout is not None
    assert layout.name == "struct pt_regs" and layout.size == 168
    assert layout.field_names == LINUX_PT_REGS
    assert [f.offset for f in layout.fields] == list(range(0, 168, 8))
    assert all(f.size == 8 and f.type_name == "long unsigned int" for f in layout.fields)
    assert layout.offset_of("orig_ax") == 120 and layout.offset_of("ss") == 160
    with pytest.raises(KeyError):
        layout.offset_of("rip")


def test_percpu_struct_and_its_typedef(kernel: ElfImage) -> None:
    expected = (
        Field("self", 0, 8, "struct percpu *"),
        Field("scratch", 8, 8, "long unsigned int"),
        Field("top", 16, 8, "long unsigned int"),
        Field("cpu", 24, 4, "int"),
    )
    layout = struct_layout(kernel, "percpu")
    assert layout is not None and (layout.size, layout.fields) == (32, expected)
    typedef = struct_layout(kernel, "percpu_t")
    assert typedef is not None and typedef.name == "percpu_t" and typedef.fields == expected


def test_typedef_of_anonymous_struct(kernel: ElfImage) -> None:
    layout = struct_layout(kernel, "anon_pair_t")
    assert layout is not None and layout.size == 16
    assert [(f.name, f.offset, f.size) for f in layout.fields] == [("id", 0, 4), ("value", 8, 8)]


def test_anonymous_unions_and_bitfields_are_flattened(kernel: ElfImage) -> None:
    layout = struct_layout(kernel, "struct fred_regs")
    assert layout is not None and layout.size == 24
    fields = {f.name: f for f in layout.fields}
    assert list(fields) == ["ip", "cs", "csx", "sl", "wfe", "flags"]
    assert (fields["cs"].offset, fields["cs"].size) == (8, 2)
    assert (fields["csx"].offset, fields["csx"].size) == (8, 8)
    assert (fields["sl"].offset, fields["sl"].bit_offset, fields["sl"].bit_size) == (8, 0, 2)
    assert (fields["wfe"].offset, fields["wfe"].bit_offset, fields["wfe"].bit_size) == (8, 2, 1)
    assert fields["flags"].offset == 16


@pytest.mark.parametrize("name", ["struct nothing_like_this", "nothing_like_this", "union pt_regs"])
def test_unknown_types(kernel: ElfImage, name: str) -> None:
    assert struct_layout(kernel, name) is None


def test_find_struct_with_fields(kernel: ElfImage) -> None:
    regs = find_struct_with_fields(kernel, {"orig_ax", "ip", "cs", "flags", "sp", "ss"})
    assert regs is not None and regs.name == "struct pt_regs"
    percpu = find_struct_with_fields(kernel, {"self", "top"})
    assert percpu is not None and percpu.name == "struct percpu"
    anon = find_struct_with_fields(kernel, {"id", "value"})
    assert anon is not None and anon.name == "anon_pair_t"
    assert find_struct_with_fields(kernel, {"self", "no_such_field"}) is None


@pytest.mark.parametrize(
    ("variable", "struct", "type_name"),
    [
        ("percpu_area", "struct percpu", "struct percpu [2]"),
        ("anon_pair", "anon_pair_t", "anon_pair_t"),
        ("fred_sample", "struct fred_regs", "struct fred_regs"),
        ("boot_cpu", None, "percpu_t *"),
        ("sink", None, "volatile long unsigned int"),
        ("no_such_variable", None, None),
    ],
)
def test_variable_types(
    kernel: ElfImage, variable: str, struct: str | None, type_name: str | None
) -> None:
    assert struct_of_variable(kernel, variable) == struct
    assert variable_type_name(kernel, variable) == type_name


def test_struct_of_variable_feeds_struct_layout(kernel: ElfImage) -> None:
    name = struct_of_variable(kernel, "percpu_area")
    assert name is not None
    layout = struct_layout(kernel, name)
    assert layout is not None and layout.offset_of("top") == 16


def test_no_dwarf_means_no_answers(tmp_path: Path) -> None:
    image = ElfImage.open(build_kernel(tmp_path, debug=""))
    assert not image.has_dwarf and image.dwarf_info() is None
    assert struct_layout(image, "struct pt_regs") is None
    assert find_struct_with_fields(image, {"ip"}) is None
    assert struct_of_variable(image, "percpu_area") is None
    assert variable_type_name(image, "percpu_area") is None


@pytest.mark.parametrize("section", [".debug_abbrev", ".debug_info"])
def test_damaged_dwarf_is_an_image_error(tmp_path: Path, section: str) -> None:
    good = ElfImage.open(build_kernel(tmp_path))
    sec = good.section(section)
    assert sec is not None
    data = bytearray(good.data)
    start = sec.offset + (12 if section == ".debug_info" else 0)  # keep the CU header
    data[start : sec.offset + sec.size] = b"\xff" * (sec.offset + sec.size - start)
    damaged = tmp_path / "damaged.elf"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ImageError, match="corrupt DWARF"):
        struct_layout(ElfImage.open(damaged), "struct pt_regs")
