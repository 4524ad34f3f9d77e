"""A lazy index of top-level DWARF names: compile units are walked one at a time, and only
their top-level DIEs (pyelftools skips subtrees through DW_AT_sibling)."""

from __future__ import annotations

import io
from collections.abc import Iterator

from elftools.dwarf.die import DIE
from elftools.dwarf.dwarf_expr import DWARFExprParser
from elftools.dwarf.dwarfinfo import DebugSectionDescriptor, DWARFInfo

from .elf import ElfImage

AGGREGATES = {"DW_TAG_structure_type": "struct", "DW_TAG_union_type": "union"}


def die_name(die: DIE) -> str | None:
    attr = die.attributes.get("DW_AT_name")
    if attr is None:
        return None
    value = attr.value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def type_of(die: DIE) -> DIE | None:
    if "DW_AT_type" in die.attributes:
        return die.get_DIE_from_attribute("DW_AT_type")
    if "DW_AT_specification" in die.attributes:
        return type_of(die.get_DIE_from_attribute("DW_AT_specification"))
    return None


def is_declaration(die: DIE) -> bool:
    attr = die.attributes.get("DW_AT_declaration")
    return attr is not None and bool(attr.value)


def _section_bytes(section: DebugSectionDescriptor) -> bytes:
    stream = section.stream
    if isinstance(stream, io.BytesIO):  # pyelftools copies (and decompresses) each section
        return stream.getvalue()
    stream.seek(section.global_offset or 0)
    return stream.read(section.size)


class DwarfIndex:
    """Top-level DWARF names, filled in one compile unit at a time, on demand."""

    def __init__(self, dwarf: DWARFInfo, *, names_are_local: bool = True) -> None:
        self.dwarf = dwarf
        # With dwz's .gnu_debugaltlink, names can live in another file: no quick misses then.
        self._names_are_local = names_are_local
        self._cus = dwarf.iter_CUs()
        self._exhausted = False
        self.aggregates: dict[str, DIE] = {}  # "struct x" / "union x" -> complete definition
        self.typedefs: dict[str, DIE] = {}
        self.variables: dict[str, DIE] = {}
        self.definitions: list[DIE] = []  # every complete top-level struct/union, in DWARF order
        self.typedef_names: dict[int, str] = {}  # anonymous aggregate offset -> its typedef name
        self._expr = DWARFExprParser(dwarf.structs)
        self._strings: list[bytes] | None = None

    def mentions(self, *names: str) -> bool:
        """False when some name appears in neither .debug_str nor .debug_info: a sure miss,
        answered without walking every compile unit."""
        if not self._names_are_local:
            return True
        if self._strings is None:
            sections = (self.dwarf.debug_str_sec, self.dwarf.debug_info_sec)
            self._strings = [_section_bytes(sec) for sec in sections if sec is not None]
        return all(any(name.encode() + b"\0" in blob for blob in self._strings) for name in names)

    def _note(self, die: DIE) -> None:
        tag = str(die.tag)
        if tag in AGGREGATES and not is_declaration(die):
            self.definitions.append(die)
            name = die_name(die)
            if name is not None:
                self.aggregates.setdefault(f"{AGGREGATES[tag]} {name}", die)
        elif tag == "DW_TAG_typedef":
            name = die_name(die)
            if name is not None:
                self.typedefs.setdefault(name, die)
                target = type_of(die)
                if target is not None and target.tag in AGGREGATES and die_name(target) is None:
                    self.typedef_names.setdefault(target.offset, name)
        elif tag == "DW_TAG_variable":
            name = die_name(die)
            if name is None and "DW_AT_specification" in die.attributes:
                name = die_name(die.get_DIE_from_attribute("DW_AT_specification"))
            current = self.variables.get(name) if name is not None else None
            if name is not None and (
                current is None or (is_declaration(current) and not is_declaration(die))
            ):
                self.variables[name] = die

    def walk_next_cu(self) -> bool:
        """Index one more compile unit; False when all have been seen."""
        if self._exhausted:
            return False
        cu = next(self._cus, None)
        if cu is None:
            self._exhausted = True
            return False
        for die in cu.get_top_DIE().iter_children():
            self._note(die)
        return True

    def find(self, table: dict[str, DIE], key: str) -> DIE | None:
        if key not in table and not self.mentions(key.split()[-1]):
            return None
        while key not in table and self.walk_next_cu():
            pass
        return table.get(key)

    def iter_definitions(self) -> Iterator[DIE]:
        """Every complete struct/union, walking further compile units only as needed."""
        i = 0
        while True:
            while i < len(self.definitions):
                yield self.definitions[i]
                i += 1
            if not self.walk_next_cu():
                return

    def member_offset(self, member: DIE) -> int:
        attr = member.attributes.get("DW_AT_data_member_location")
        if attr is None:
            return 0
        if isinstance(attr.value, int):
            return attr.value
        offset = 0
        for op in self._expr.parse_expr(attr.value):
            if op.op_name == "DW_OP_plus_uconst":
                offset += op.args[0]
            elif op.op_name in ("DW_OP_constu", "DW_OP_consts"):
                offset = op.args[0]
        return offset


def dwarf_index(image: ElfImage) -> DwarfIndex | None:
    dwarf = image.dwarf_info()
    if dwarf is None:
        return None
    local = image.section(".gnu_debugaltlink") is None
    return image.cached("dwarf_index", lambda: DwarfIndex(dwarf, names_are_local=local))
