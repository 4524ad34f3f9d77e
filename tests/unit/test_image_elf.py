"""ElfImage: sections, symbols, symbolization, bytes and TLS, on a fixture kernel built by gcc."""

from __future__ import annotations

from pathlib import Path

import capstone
import pytest
from capstone import x86_const as x86
from test_image_support import build_kernel, build_user, compile_program

from tracer.image import ElfImage, ImageError


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> ElfImage:
    return ElfImage.open(build_kernel(tmp_path_factory.mktemp("kernel")))


def _addr(image: ElfImage, name: str) -> int:
    addr = image.address_of(name)
    assert addr is not None, name
    return addr


def test_header_and_sections(kernel: ElfImage) -> None:
    assert kernel.entry == _addr(kernel, "_start")
    assert kernel.is_static_executable and kernel.interp is None
    assert kernel.has_dwarf
    text = kernel.section(".text")
    assert text is not None and text.executable and text.file_backed and not text.writable
    assert [s.name for s in kernel.executable_sections()] == [".text"]
    assert kernel.section(".nope") is None


def test_symbols_have_types_sizes_and_binds(kernel: ElfImage) -> None:
    entry = kernel.symbol("entry_SYSCALL_64")
    assert entry is not None and (entry.type, entry.bind, entry.section) == (
        "notype",
        "global",
        ".text",
    )
    assert entry.size > 0  # .size in the assembly, like Linux's SYM_CODE_END
    setup = kernel.symbol("setup_msrs")
    assert setup is not None and setup.type == "func" and setup.size > 0
    area = kernel.symbol("percpu_area")
    assert area is not None and area.type == "object" and area.size == 64
    assert (
        kernel.symbol("mitigation_hook") is not None
        and kernel.symbol("mitigation_hook").bind == "local"
    )
    assert kernel.symbol("tls_counters") is None  # TLS symbols are listed apart
    assert kernel.symbol("no_such_symbol") is None
    assert {s.name for s in kernel.symbols} >= {"do_syscall_64", "boot_cpu", "site_wrmsr"}


def test_symbolize_prefers_functions_over_labels_inside_them(kernel: ElfImage) -> None:
    setup = _addr(kernel, "setup_msrs")
    wrmsr = _addr(kernel, "site_wrmsr")  # a NOTYPE label in setup_msrs' inline asm
    assert kernel.symbolize(setup) == "setup_msrs"
    assert kernel.symbolize(wrmsr) == f"setup_msrs+{wrmsr - setup:#x}"
    assert kernel.function_at(wrmsr) == kernel.symbol("setup_msrs")


def test_symbolize_assembly_code_by_its_sized_label(kernel: ElfImage) -> None:
    entry = _addr(kernel, "entry_SYSCALL_64")
    call = _addr(kernel, "entry_dispatch_call")
    assert kernel.symbolize(call) == f"entry_SYSCALL_64+{call - entry:#x}"
    assert kernel.function_at(call) == kernel.symbol("entry_SYSCALL_64")


def test_label_at_names_inner_labels(kernel: ElfImage) -> None:
    assert kernel.label_at(_addr(kernel, "entry_SYSCALL_64")) == "entry_SYSCALL_64"  # sized first
    assert kernel.label_at(_addr(kernel, "site_wrmsr")) == "site_wrmsr"
    assert kernel.label_at(_addr(kernel, "site_wrmsr") + 1) is None


def test_symbolize_data_and_misses(kernel: ElfImage) -> None:
    area = _addr(kernel, "percpu_area")
    assert kernel.symbolize(area + 40) == "percpu_area+0x28"
    assert kernel.function_at(area) is None
    assert kernel.symbolize(0) is None
    assert kernel.symbolize(0xFFFF_FFFF_0000_0000) is None


def test_read_returns_the_code_bytes(kernel: ElfImage) -> None:
    assert kernel.read(_addr(kernel, "entry_swapgs"), 3) == b"\x0f\x01\xf8"
    assert kernel.read(_addr(kernel, "entry_sysretq"), 3) == b"\x48\x0f\x07"
    text = kernel.section(".text")
    assert text is not None
    assert kernel.read_upto(text.end - 2, 100) == kernel.read(text.end - 2, 2)
    with pytest.raises(ImageError, match="not in the file"):
        kernel.read(text.end - 2, 100)
    with pytest.raises(ImageError):
        kernel.read(0x10, 1)


def test_tls_segment_and_symbols(kernel: ElfImage) -> None:
    seg = kernel.tls_segment
    assert seg is not None and seg.align == 64 and seg.memsz % seg.align != 0
    tls = {s.name: s for s in kernel.tls_symbols()}
    assert set(tls) == {"tls_init", "tls_counters", "tls_aligned"}
    assert tls["tls_counters"].size == 12 and tls["tls_aligned"].st_value % 64 == 0
    for sym in tls.values():
        assert sym.tp_offset == sym.st_value - seg.aligned_size
        assert sym.tp_offset is not None and -seg.aligned_size <= sym.tp_offset < 0
    assert kernel.tls_symbol("tls_init") == tls["tls_init"]


def _fs_displacements(image: ElfImage, function: str) -> list[int]:
    """The displacements of %fs: memory operands in a function, as gcc emitted them."""
    sym = image.symbol(function)
    assert sym is not None
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.detail = True
    disps = []
    for insn in md.disasm(image.read(sym.addr, sym.size), sym.addr):
        for op in insn.operands:
            if op.type == x86.X86_OP_MEM and op.mem.segment == x86.X86_REG_FS:
                disps.append(op.mem.disp)
    return disps


@pytest.mark.parametrize(
    ("function", "variable", "index_bytes"),
    [("tls_read_init", "tls_init", 0), ("tls_read_counter", "tls_counters", 4),
     ("tls_read_aligned", "tls_aligned", 3)],
)  # fmt: skip
def test_tp_offsets_match_what_the_linker_wrote(
    kernel: ElfImage, function: str, variable: str, index_bytes: int
) -> None:
    sym = kernel.tls_symbol(variable)
    assert sym is not None and sym.tp_offset is not None
    assert _fs_displacements(kernel, function) == [sym.tp_offset + index_bytes]


def test_user_program_without_dwarf_or_tls(tmp_path: Path) -> None:
    user = ElfImage.open(build_user(tmp_path))
    assert user.is_static_executable and not user.has_dwarf
    assert user.tls_segment is None and user.tls_symbols() == []


def test_dynamic_program_names_its_interpreter(tmp_path: Path) -> None:
    source = tmp_path / "hello.c"
    source.write_text("int main(void) { return 0; }\n")
    program = ElfImage.open(compile_program(tmp_path / "hello", [source], ["-O1"]))
    assert program.interp is not None and "ld-linux" in program.interp
    assert not program.is_static_executable


def test_static_pie_counts_as_static(tmp_path: Path) -> None:
    source = tmp_path / "pie.c"
    source.write_text("int main(void) { return 0; }\n")
    try:
        path = compile_program(tmp_path / "pie", [source], ["-O1", "-static-pie"])
    except AssertionError as exc:
        pytest.skip(f"no static-pie support in this toolchain: {exc}")
    program = ElfImage.open(path)
    assert program.elf_type == "ET_DYN" and program.interp is None
    assert program.is_static_executable


def test_derived_data_is_cached_per_image(kernel: ElfImage) -> None:
    calls = []
    assert kernel.cached("test-key", lambda: calls.append(1) or 42) == 42
    assert kernel.cached("test-key", lambda: calls.append(1) or 43) == 42
    assert calls == [1]
