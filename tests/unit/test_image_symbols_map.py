"""System.map and kallsyms dumps as symbol sources: the same answers an ELF gives."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_image_support import build_kernel

from tracer.image import ElfImage, ImageError
from tracer.image.symbol_map import SymbolMap, open_kernel_symbols

MAP = """\
0000000000000000 D __per_cpu_start
000000000001fb80 D current_task
0000000000035000 D __per_cpu_end
00000000000001ea A kexec_control_code_size
ffffffff81000000 T _text
ffffffff81000000 T startup_64
ffffffff81000100 t secondary_startup_64
ffffffff81000180 W weak_thing
ffffffff81c00080 T entry_SYSCALL_64
ffffffff81c000c9 T entry_SYSCALL_64_safe_stack
ffffffff81c00200 T entry_SYSCALL_64_after_hwframe_end
ffffffff82000000 R __start_rodata
ffffffff82000040 r sys_call_table_local
ffffffff83000000 D _sdata
ffffffff84000000 B __bss_start
ffffffff84430000 B _end
"""


def _map(tmp_path: Path, text: str = MAP, name: str = "System.map") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_addresses_types_and_sizes_to_the_next_symbol(tmp_path: Path) -> None:
    symbols = SymbolMap.open(_map(tmp_path))
    entry = symbols.symbol("entry_SYSCALL_64")
    assert entry is not None
    assert (entry.addr, entry.size, entry.type, entry.bind) == (0xFFFFFFFF81C00080, 0x49, "func",
                                                                "global")  # fmt: skip
    local = symbols.symbol("secondary_startup_64")
    assert local is not None and (local.bind, local.size) == ("local", 0x80)
    weak = symbols.symbol("weak_thing")
    assert weak is not None and weak.bind == "weak"
    assert symbols.address_of("current_task") == 0x1FB80
    assert symbols.symbol("kexec_control_code_size") is not None
    assert symbols.address_of("nope") is None


def test_symbolize_stays_in_its_kind_of_section(tmp_path: Path) -> None:
    symbols = SymbolMap.open(_map(tmp_path))
    assert symbols.symbolize(0xFFFFFFFF81C00080) == "entry_SYSCALL_64"
    assert symbols.symbolize(0xFFFFFFFF81C000D0) == "entry_SYSCALL_64_safe_stack+0x7"
    assert symbols.symbolize(0xFFFFFFFF82000044) == "sys_call_table_local+0x4"
    assert symbols.symbolize(0x1FB88) == "current_task+0x8"
    assert symbols.label_at(0xFFFFFFFF81000000) in ("_text", "startup_64")
    func = symbols.function_at(0xFFFFFFFF81C00090)
    assert func is not None and func.name == "entry_SYSCALL_64"
    assert symbols.function_at(0xFFFFFFFF82000044) is None  # data, not code


def test_kallsyms_dump_skips_module_symbols(tmp_path: Path) -> None:
    dump = MAP + "ffffffffc0a01000 t e1000_probe\t[e1000]\nffffffffc0a02000 U printk\t[e1000]\n"
    symbols = SymbolMap.open(_map(tmp_path, dump, "kallsyms"))
    assert symbols.symbol("e1000_probe") is None
    assert len(symbols.symbols) == len(SymbolMap.open(_map(tmp_path)).symbols)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no symbols"),
        ("hello world\n", "not `ADDRESS TYPE NAME`"),
        ("zzzz T _text\n", "not a hex address"),
        ("0000000000000000 T _text\n0000000000000000 t foo\n", "without the right to see them"),
    ],
)
def test_bad_maps_are_one_line_errors(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(ImageError, match=reason) as info:
        SymbolMap.open(_map(tmp_path, text))
    assert "\n" not in str(info.value)


def test_missing_file_is_an_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        open_kernel_symbols(tmp_path / "System.map")


@pytest.mark.skipif(shutil.which("nm") is None, reason="nm (binutils) not installed")
def test_a_map_made_by_nm_agrees_with_the_elf(tmp_path: Path) -> None:
    kernel_path = build_kernel(tmp_path)
    elf = open_kernel_symbols(kernel_path)
    assert isinstance(elf, ElfImage)
    nm = subprocess.run(["nm", "-n", str(kernel_path)], capture_output=True, text=True, check=True)
    symbols = open_kernel_symbols(_map(tmp_path, nm.stdout))
    assert isinstance(symbols, SymbolMap)
    functions = [s for s in elf.symbols if s.type == "func" and s.size > 1 and s.bind == "global"]
    assert len(functions) > 5
    for func in functions:
        assert symbols.address_of(func.name) == func.addr
        # A map has no types to choose between labels at one address: any of them will do.
        names_here = {s.name for s in elf.symtab.starting_at(func.addr)}
        found = symbols.symbolize(func.addr + 1)
        assert found is not None and found.endswith("+0x1")
        assert found.removesuffix("+0x1") in names_here, func.name
