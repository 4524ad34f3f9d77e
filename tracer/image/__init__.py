"""What the binaries say: symbols, sections, TLS, DWARF layouts, and code sites, read from ELF
files with pyelftools and capstone. Nothing here knows which kernel it is looking at.
May import `tracer.decode` and `tracer.events`; nothing that starts processes or talks to gdb."""

from .disasm import (
    ALL_KINDS,
    Insn,
    Site,
    SiteKind,
    disassemble,
    find_syscall_instructions,
    scan_sites,
)
from .dwarf import (
    Field,
    StructLayout,
    find_struct_with_fields,
    struct_layout,
    struct_of_variable,
    variable_type_name,
)
from .elf import ElfImage, Section, Segment, TlsSegment, TlsSymbol
from .entry_path import Block, EntryPath, ExitSite, GsSlot, analyze_syscall_entry
from .errors import ImageError
from .notes import build_id, has_pvh_note, pvh_entry
from .symbol_map import KernelSymbols, SymbolMap, open_kernel_symbols
from .symbols import Symbol

__all__ = [
    "ALL_KINDS",
    "Block",
    "ElfImage",
    "EntryPath",
    "ExitSite",
    "Field",
    "GsSlot",
    "ImageError",
    "Insn",
    "KernelSymbols",
    "Section",
    "Segment",
    "Site",
    "SiteKind",
    "StructLayout",
    "Symbol",
    "SymbolMap",
    "TlsSegment",
    "TlsSymbol",
    "analyze_syscall_entry",
    "build_id",
    "disassemble",
    "find_struct_with_fields",
    "find_syscall_instructions",
    "has_pvh_note",
    "open_kernel_symbols",
    "pvh_entry",
    "scan_sites",
    "struct_layout",
    "struct_of_variable",
    "variable_type_name",
]
