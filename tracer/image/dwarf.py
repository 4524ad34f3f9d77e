"""Struct layouts and variable types from DWARF (.debug_info), found lazily by name.

A kernel's DWARF is large, so compile units are walked one at a time and only their top-level
DIEs are looked at (pyelftools skips subtrees through DW_AT_sibling); the walk stops as soon as
the asked-for name has a complete definition and resumes from there for the next question.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

from elftools.dwarf.die import DIE

from .dwarf_index import AGGREGATES, DwarfIndex, die_name, dwarf_index, is_declaration, type_of
from .elf import ElfImage

_QUALIFIERS = {
    "DW_TAG_const_type": "const", "DW_TAG_volatile_type": "volatile",
    "DW_TAG_restrict_type": "restrict", "DW_TAG_atomic_type": "_Atomic",
}  # fmt: skip
_TYPE_DEPTH = 16


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    offset: int  # bytes from the start of the struct
    size: int | None  # bytes; None for an incomplete type (a flexible array member is 0)
    type_name: str
    bit_size: int | None = None  # bit-fields only
    bit_offset: int | None = None  # bit-fields only: bit position within the byte at `offset`


@dataclass(frozen=True, slots=True)
class StructLayout:
    name: str  # as C spells it: "struct pt_regs", "union u", or a typedef name
    size: int
    fields: tuple[Field, ...]  # members of anonymous structs/unions are flattened in

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def offset_of(self, name: str) -> int:
        field = self.field(name)
        if field is None:
            raise KeyError(f"{self.name} has no field {name!r}")
        return field.offset

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


# -- types ------------------------------------------------------------------------------------


def _strip(die: DIE | None, *, arrays: bool = False) -> DIE | None:
    """Follow typedefs and qualifiers (and array element types if asked) to the real type."""
    for _ in range(_TYPE_DEPTH):
        if die is None:
            return None
        strip_array = arrays and die.tag == "DW_TAG_array_type"
        if die.tag != "DW_TAG_typedef" and die.tag not in _QUALIFIERS and not strip_array:
            return die
        die = type_of(die)
    return die


def _array_counts(die: DIE) -> list[int | None]:
    counts: list[int | None] = []
    for sub in die.iter_children():
        if sub.tag != "DW_TAG_subrange_type":
            continue
        if "DW_AT_count" in sub.attributes:
            counts.append(sub.attributes["DW_AT_count"].value)
        elif "DW_AT_upper_bound" in sub.attributes:
            upper = sub.attributes["DW_AT_upper_bound"].value
            counts.append(upper + 1 if isinstance(upper, int) else None)
        else:
            counts.append(None)
    return counts


def type_size(die: DIE | None) -> int | None:
    """sizeof the type, or None when DWARF does not say (void, incomplete, functions)."""
    die = _strip(die)
    if die is None:
        return None
    if "DW_AT_byte_size" in die.attributes:
        return int(die.attributes["DW_AT_byte_size"].value)
    if die.tag in ("DW_TAG_pointer_type", "DW_TAG_reference_type"):
        return int(die.cu["address_size"])
    if die.tag == "DW_TAG_array_type":
        elem = type_size(type_of(die))
        counts = _array_counts(die)
        if elem is None:
            return None
        total = elem
        for count in counts:
            total *= count if count is not None else 0
        return total
    return None


def type_name(die: DIE | None, depth: int = 0) -> str:
    """The C spelling of a type: "unsigned long", "struct percpu *", "int [4]"."""
    if die is None:
        return "void"
    if depth > _TYPE_DEPTH:
        return "..."
    tag, name = str(die.tag), die_name(die)
    if tag in AGGREGATES or tag == "DW_TAG_enumeration_type":
        kind = AGGREGATES.get(tag, "enum")
        return f"{kind} {name}" if name else f"{kind} <anonymous>"
    if name is not None:
        return name
    inner = type_name(type_of(die), depth + 1)
    if tag == "DW_TAG_pointer_type":
        return f"{inner} *" if not inner.endswith("*") else f"{inner}*"
    if tag in _QUALIFIERS:
        return f"{_QUALIFIERS[tag]} {inner}"
    if tag == "DW_TAG_array_type":
        dims = "".join(f"[{c}]" if c is not None else "[]" for c in _array_counts(die))
        return f"{inner} {dims}"
    if tag == "DW_TAG_subroutine_type":
        return f"{inner} (...)"
    return tag.removeprefix("DW_TAG_")


P = ParamSpec("P")
R = TypeVar("R")


def _dwarf_errors(
    func: Callable[Concatenate[ElfImage, P], R],
) -> Callable[Concatenate[ElfImage, P], R]:
    """DIEs are parsed lazily, so damage shows up here: report it as an ImageError."""

    @functools.wraps(func)
    def wrapper(image: ElfImage, *args: P.args, **kwargs: P.kwargs) -> R:
        with image.parsing("DWARF"):
            return func(image, *args, **kwargs)

    return wrapper


# -- layouts ----------------------------------------------------------------------------------


def _fields(index: DwarfIndex, aggregate: DIE, base: int) -> Iterator[Field]:
    for member in aggregate.iter_children():
        if member.tag != "DW_TAG_member":
            continue
        offset = base + index.member_offset(member)
        member_type = type_of(member)
        name = die_name(member)
        if name is None:
            inner = _strip(member_type)
            if inner is not None and inner.tag in AGGREGATES:
                yield from _fields(index, inner, offset)
        elif "DW_AT_bit_size" in member.attributes:
            yield _bit_field(member, name, offset, member_type)
        else:
            yield Field(name, offset, type_size(member_type), type_name(member_type))


def _bit_field(member: DIE, name: str, offset: int, member_type: DIE | None) -> Field:
    attrs = member.attributes
    bit_size = int(attrs["DW_AT_bit_size"].value)
    if "DW_AT_data_bit_offset" in attrs:
        bits = int(attrs["DW_AT_data_bit_offset"].value)
    else:  # DWARF 2/3: counted from the most significant bit of the storage unit
        unit = attrs["DW_AT_byte_size"].value if "DW_AT_byte_size" in attrs else None
        unit_bytes = int(unit) if unit is not None else type_size(member_type) or 0
        bits = unit_bytes * 8 - int(attrs["DW_AT_bit_offset"].value) - bit_size
    return Field(
        name, offset + bits // 8, (bits % 8 + bit_size + 7) // 8, type_name(member_type),
        bit_size, bits % 8,
    )  # fmt: skip


def _layout(index: DwarfIndex, aggregate: DIE, name: str) -> StructLayout:
    size = type_size(aggregate) or 0
    return StructLayout(name, size, tuple(_fields(index, aggregate, 0)))


def _display_name(index: DwarfIndex, aggregate: DIE) -> str:
    name = die_name(aggregate)
    if name is not None:
        return f"{AGGREGATES[str(aggregate.tag)]} {name}"
    return index.typedef_names.get(aggregate.offset, type_name(aggregate))


def _complete(index: DwarfIndex, die: DIE) -> DIE | None:
    """A complete definition for an aggregate that may only be declared where it was found."""
    if not is_declaration(die):
        return die
    name = die_name(die)
    return index.find(index.aggregates, f"{AGGREGATES[str(die.tag)]} {name}") if name else None


@_dwarf_errors
def struct_layout(image: ElfImage, name: str) -> StructLayout | None:
    """The layout of `struct name`, `union name` or a typedef of one; None if DWARF lacks it."""
    index = dwarf_index(image)
    if index is None:
        return None
    name = " ".join(name.split())
    if name.startswith(("struct ", "union ")):
        die = index.find(index.aggregates, name)
        return _layout(index, die, name) if die is not None else None
    die = index.find(index.aggregates, f"struct {name}")
    if die is not None:
        return _layout(index, die, f"struct {name}")
    typedef = index.find(index.typedefs, name)
    target = _strip(typedef) if typedef is not None else None
    if target is None or target.tag not in AGGREGATES:
        die = index.find(index.aggregates, f"union {name}")
        return _layout(index, die, f"union {name}") if die is not None else None
    target = _complete(index, target)
    return _layout(index, target, name) if target is not None else None


def _member_names(aggregate: DIE) -> Iterator[str]:
    """Field names as `_fields` flattens them, without computing offsets or types."""
    for member in aggregate.iter_children():
        if member.tag != "DW_TAG_member":
            continue
        name = die_name(member)
        if name is not None:
            yield name
            continue
        inner = _strip(type_of(member))
        if inner is not None and inner.tag in AGGREGATES:
            yield from _member_names(inner)


@_dwarf_errors
def find_struct_with_fields(image: ElfImage, required: set[str]) -> StructLayout | None:
    """The first struct (in DWARF order) that has every one of `required` as a field name."""
    index = dwarf_index(image)
    if index is None or not index.mentions(*required):
        return None
    checked: set[str] = set()
    for die in index.iter_definitions():
        name = _display_name(index, die)
        if name in checked:  # the same header's struct, seen again in another compile unit
            continue
        checked.add(name)
        if required <= set(_member_names(die)):
            return _layout(index, die, name)
    return None


def _variable_type(image: ElfImage, var_name: str) -> DIE | None:
    index = dwarf_index(image)
    if index is None:
        return None
    var = index.find(index.variables, var_name)
    return type_of(var) if var is not None else None


@_dwarf_errors
def variable_type_name(image: ElfImage, var_name: str) -> str | None:
    """The C type of a global variable, as DWARF spells it ("struct percpu [4]")."""
    die = _variable_type(image, var_name)
    return type_name(die) if die is not None else None


@_dwarf_errors
def struct_of_variable(image: ElfImage, var_name: str) -> str | None:
    """The struct a global variable is (or is an array of), named for `struct_layout`."""
    index = dwarf_index(image)
    die = _strip(_variable_type(image, var_name), arrays=True)
    if index is None or die is None or die.tag not in AGGREGATES:
        return None
    return _display_name(index, die)
