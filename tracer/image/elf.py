"""An x86-64 ELF file read once into memory: sections, segments, symbols, TLS, raw bytes."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from elftools.common.exceptions import ELFError, ELFParseError
from elftools.construct import ConstructError
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.segments import InterpSegment

from .errors import ImageError, read_input
from .symbols import Symbol, SymbolLookups, SymbolTable
from .symtab_cache import parse_symtab_kept

if TYPE_CHECKING:
    from elftools.dwarf.dwarfinfo import DWARFInfo

T = TypeVar("T")

# Everything pyelftools may raise on a damaged file; turned into one ImageError.
_PARSE_ERRORS = (
    ELFError, ELFParseError, ConstructError, struct.error, ValueError, IndexError, KeyError,
    EOFError, UnicodeDecodeError, AttributeError, OverflowError, TypeError,
)  # fmt: skip
_EM_X86_64 = 62
_MACHINE_NAMES = {
    2: "SPARC", 3: "i386", 8: "MIPS", 20: "PowerPC", 21: "PowerPC64", 22: "s390", 40: "ARM",
    50: "IA-64", 183: "AArch64", 243: "RISC-V", 258: "LoongArch",
}  # fmt: skip
_DF_1_PIE = 0x08000000
_SHF_TLS = 0x400


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    addr: int
    size: int
    flags: int
    offset: int
    file_backed: bool  # not SHT_NOBITS: the bytes are in the file

    @property
    def end(self) -> int:
        return self.addr + self.size

    @property
    def executable(self) -> bool:
        return bool(self.flags & SH_FLAGS.SHF_EXECINSTR)

    @property
    def allocated(self) -> bool:
        return bool(self.flags & SH_FLAGS.SHF_ALLOC)

    @property
    def writable(self) -> bool:
        return bool(self.flags & SH_FLAGS.SHF_WRITE)

    @property
    def tls(self) -> bool:
        return bool(self.flags & _SHF_TLS)


@dataclass(frozen=True, slots=True)
class Segment:
    """A PT_LOAD program header."""

    vaddr: int
    offset: int
    filesz: int
    memsz: int
    flags: int


@dataclass(frozen=True, slots=True)
class TlsSegment:
    """The PT_TLS program header: the initial image of every thread's TLS block."""

    vaddr: int
    filesz: int
    memsz: int
    align: int

    @property
    def aligned_size(self) -> int:
        """memsz rounded up to align: the distance from the block start to the thread pointer."""
        align = max(self.align, 1)
        return (self.memsz + align - 1) // align * align


@dataclass(frozen=True, slots=True)
class TlsSymbol:
    name: str
    st_value: int  # offset inside the TLS segment
    size: int
    bind: str
    tp_offset: int | None  # offset from the thread pointer (negative, x86-64 variant II)


def is_elf(path: str | Path) -> bool:
    """Whether the file starts as an ELF does (False when it cannot be read: the caller's
    reader says why)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _check_header(path: Path, data: bytes) -> None:
    """Reject what is not a whole x86-64 ELF64 before pyelftools sees it."""
    if len(data) < 20 or data[:4] != b"\x7fELF":
        raise ImageError(path, "not an ELF file")
    endian = "<" if data[5] != 2 else ">"
    (machine,) = struct.unpack_from(endian + "H", data, 18)
    if machine != _EM_X86_64:
        name = _MACHINE_NAMES.get(machine, f"machine {machine}")
        raise ImageError(path, f"ELF for {name}, need x86-64")
    if data[4] != 2 or endian != "<":
        raise ImageError(path, "not a 64-bit little-endian ELF, need x86-64")
    if len(data) < 64:
        raise ImageError(path, "truncated ELF header")
    phoff, shoff = struct.unpack_from("<QQ", data, 32)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 54)
    for table, offset, size in (
        ("program", phoff, phentsize * phnum),
        ("section", shoff, shentsize * shnum),
    ):
        if offset + size > len(data):
            raise ImageError(
                path, f"truncated: {table} headers lie past the end of the file ({len(data)} bytes)"
            )


class ElfImage(SymbolLookups):
    """One kernel or program file. Build with `ElfImage.open(path)`."""

    def __init__(self, path: Path, data: bytes, elf: ELFFile, *, require_symbols: bool) -> None:
        self.path = path
        self.data = data
        self._elf = elf
        self.entry: int = elf.header["e_entry"]
        self.elf_type: str = elf.header["e_type"]
        self.sections: tuple[Section, ...] = tuple(self._parse_sections())
        self.segments: tuple[Segment, ...] = tuple(self._parse_segments())
        self.interp: str | None = self._parse_interp()
        self.tls_segment: TlsSegment | None = self._parse_tls_segment()
        symbols, self.has_symtab = self._parse_symbols()
        if require_symbols and not self.has_symtab:
            raise ImageError(path, "stripped: no .symtab; the tracer needs symbols")
        alloc = [(s.name, s.addr, s.size) for s in self.sections if s.allocated and not s.tls]
        self.symtab = SymbolTable(symbols, alloc)
        self._tls = [s for s in symbols if s.type == "tls"]
        self._pie = self._has_pie_flag()
        self._cache: dict[str, Any] = {}

    @classmethod
    def open(cls, path: str | Path, *, require_symbols: bool = True) -> ElfImage:
        """Read and check the whole file. `require_symbols=False` accepts stripped programs."""
        path = Path(path)
        data = read_input(path, "an ELF file")
        _check_header(path, data)
        try:
            return cls(path, data, ELFFile(io.BytesIO(data)), require_symbols=require_symbols)
        except _PARSE_ERRORS as exc:
            raise ImageError(path, f"corrupt ELF: {_one_line(exc)}") from None

    @contextmanager
    def parsing(self, what: str) -> Iterator[None]:
        """Turn pyelftools' errors while lazily parsing `what` into one ImageError."""
        try:
            yield
        except _PARSE_ERRORS as exc:
            raise ImageError(self.path, f"corrupt {what}: {_one_line(exc)}") from None

    def __repr__(self) -> str:
        return f"ElfImage({str(self.path)!r}, {len(self.symtab)} symbols)"

    # -- parsing ---------------------------------------------------------------------------

    def _parse_sections(self) -> list[Section]:
        sections = []
        for sec in self._elf.iter_sections():
            hdr = sec.header
            file_backed = hdr["sh_type"] != "SHT_NOBITS"
            if file_backed and hdr["sh_type"] != "SHT_NULL":
                if hdr["sh_offset"] + hdr["sh_size"] > len(self.data):
                    raise ImageError(self.path, f"truncated: section {sec.name} lies past the end")
            sections.append(
                Section(
                    sec.name, hdr["sh_addr"], hdr["sh_size"], hdr["sh_flags"], hdr["sh_offset"],
                    file_backed,
                )
            )  # fmt: skip
        return sections

    def _parse_segments(self) -> list[Segment]:
        loads = []
        for seg in self._elf.iter_segments():
            hdr = seg.header
            if hdr["p_type"] != "PT_LOAD":
                continue
            if hdr["p_offset"] + hdr["p_filesz"] > len(self.data):
                raise ImageError(self.path, "truncated: a loadable segment lies past the end")
            loads.append(
                Segment(hdr["p_vaddr"], hdr["p_offset"], hdr["p_filesz"], hdr["p_memsz"],
                        hdr["p_flags"])
            )  # fmt: skip
        return loads

    def _parse_interp(self) -> str | None:
        for seg in self._elf.iter_segments():
            if isinstance(seg, InterpSegment):
                # Read from the file's bytes: separate debug files keep the header, not the path.
                start, size = seg.header["p_offset"], seg.header["p_filesz"]
                raw = self.data[start : start + size].split(b"\0", 1)[0]
                return raw.decode("utf-8", "replace")
        return None

    def _parse_tls_segment(self) -> TlsSegment | None:
        for seg in self._elf.iter_segments():
            hdr = seg.header
            if hdr["p_type"] == "PT_TLS":
                return TlsSegment(hdr["p_vaddr"], hdr["p_filesz"], hdr["p_memsz"], hdr["p_align"])
        return None

    def _parse_symbols(self) -> tuple[list[Symbol], bool]:
        table = self._elf.get_section_by_name(".symtab")
        has_symtab = table is not None and table.header["sh_type"] == "SHT_SYMTAB"
        if not has_symtab:
            table = self._elf.get_section_by_name(".dynsym")
        if table is None:
            return [], False
        strings = self._elf.get_section(table.header["sh_link"])
        names = [s.name for s in self.sections]
        return parse_symtab_kept(table.data(), strings.data(), names), has_symtab

    def _has_pie_flag(self) -> bool:
        dynamic = self._elf.get_section_by_name(".dynamic")
        if dynamic is None or not hasattr(dynamic, "iter_tags"):
            return False
        for tag in dynamic.iter_tags():
            if tag.entry.d_tag == "DT_FLAGS_1":
                return bool(tag.entry.d_val & _DF_1_PIE)
        return False

    # -- what the file says ----------------------------------------------------------------

    @property
    def is_static_executable(self) -> bool:
        """ET_EXEC, or a static-pie (ET_DYN flagged PIE), with no program interpreter."""
        if self.interp is not None:
            return False
        return self.elf_type == "ET_EXEC" or (self.elf_type == "ET_DYN" and self._pie)

    @property
    def has_dwarf(self) -> bool:
        sec = self.section(".debug_info")
        return sec is not None and sec.file_backed and sec.size > 0

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def executable_sections(self) -> list[Section]:
        return [s for s in self.sections if s.executable and s.file_backed and s.size]

    def function_at(self, addr: int) -> Symbol | None:
        """The function (or code label, for assembly) that holds `addr`."""
        covering = self.symtab.covering(addr)
        if covering is not None and covering.type in ("func", "notype"):
            return covering
        sec_name = self.symtab.section_name_at(addr)
        sec = self.section(sec_name) if sec_name else None
        if sec is None or not sec.executable:
            return None
        preceding = self.symtab.preceding(addr)
        return preceding if preceding is not None and preceding.type != "object" else None

    # -- TLS -------------------------------------------------------------------------------

    def tls_symbols(self) -> list[TlsSymbol]:
        """STT_TLS symbols with their thread-pointer offsets (x86-64 ABI variant II)."""
        seg = self.tls_segment
        return [
            TlsSymbol(
                s.name,
                s.addr,
                s.size,
                s.bind,
                s.addr - seg.aligned_size if seg is not None else None,
            )  # fmt: skip
            for s in sorted(self._tls, key=lambda s: (s.addr, s.name))
        ]

    def tls_symbol(self, name: str) -> TlsSymbol | None:
        return next((s for s in self.tls_symbols() if s.name == name), None)

    # -- bytes -----------------------------------------------------------------------------

    def _file_range(self, addr: int) -> tuple[int, int] | None:
        """(file offset of addr, bytes available from there) within one section or segment."""
        for sec in self.sections:
            if sec.allocated and sec.file_backed and not sec.tls and sec.addr <= addr < sec.end:
                return sec.offset + addr - sec.addr, sec.end - addr
        for seg in self.segments:
            if seg.vaddr <= addr < seg.vaddr + seg.filesz:
                return seg.offset + addr - seg.vaddr, seg.vaddr + seg.filesz - addr
        return None

    def read(self, addr: int, size: int) -> bytes:
        """`size` bytes at virtual address `addr`, from the file (code and initialised data)."""
        found = self._file_range(addr)
        if found is None or found[1] < size:
            raise ImageError(self.path, f"{addr:#x}+{size:#x} is not in the file's loaded bytes")
        offset, _ = found
        return self.data[offset : offset + size]

    def read_upto(self, addr: int, limit: int) -> bytes:
        """Up to `limit` bytes at `addr`, stopping at the end of its section (b"" if unmapped)."""
        found = self._file_range(addr)
        if found is None:
            return b""
        offset, available = found
        return self.data[offset : offset + min(limit, available)]

    # -- derived data, computed once per image ----------------------------------------------

    def cached(self, key: str, build: Callable[[], T]) -> T:
        """Memoise an analysis of this image (DWARF indexes, scans) for the image's lifetime."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]  # type: ignore[no-any-return]

    def dwarf_info(self) -> DWARFInfo | None:
        """pyelftools' DWARF reader, or None without debug info."""
        if not self.has_dwarf:
            return None

        def build() -> DWARFInfo:
            # Only an object file still needs its .rela.debug_* applied. A linked file has them
            # in its bytes already; Linux's vmlinux keeps 271 MB of them (--emit-relocs), and
            # applying them again took minutes.
            with self.parsing("DWARF"):
                return self._elf.get_dwarf_info(relocate_dwarf_sections=self.elf_type == "ET_REL")

        return self.cached("dwarf_info", build)
