"""The kallsyms boot's pure parts: the dump cut from the console, and its cache key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracer.image.symbol_map import SymbolMap
from tracer.linux.kallsyms_boot import (
    KallsymsBootError,
    kallsyms_cache_path,
    kallsyms_from_console,
    save_dump,
)

CONSOLE = (
    "[    2.6] Run /init as init process\r\n"
    "tracer-init: started\r\n"
    "tracer-kallsyms-begin\r\n"
    "0000000000000000 A fixed_percpu_data\r\n"
    "ffffffff81000000 T _text\r\n"
    "ffffffff81c00080 T entry_SYSCALL_64\r\n"
    "tracer-kallsyms-end\r\n"
    "tracer-init: powering off\r\n"
)


def test_dump_is_cut_between_the_markers(tmp_path: Path) -> None:
    dump = kallsyms_from_console(CONSOLE)
    assert dump.splitlines() == [
        "0000000000000000 A fixed_percpu_data",
        "ffffffff81000000 T _text",
        "ffffffff81c00080 T entry_SYSCALL_64",
    ]
    path = save_dump(dump, tmp_path / "k" / "dump.txt")
    assert SymbolMap.open(path).address_of("entry_SYSCALL_64") == 0xFFFFFFFF81C00080


@pytest.mark.parametrize(
    "console", [CONSOLE.split("tracer-kallsyms-end")[0], "Kernel panic - not syncing\r\n", ""]
)
def test_a_cut_short_boot_says_how_it_ended(console: str) -> None:
    with pytest.raises(KallsymsBootError, match="no complete kallsyms dump"):
        kallsyms_from_console(console)


def test_cache_is_keyed_by_the_image_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    a.write_bytes(b"bzImage 1")
    b.write_bytes(b"bzImage 1")
    c.write_bytes(b"bzImage 2")
    root = tmp_path / "cache"
    assert kallsyms_cache_path(a, root) == kallsyms_cache_path(b, root)
    assert kallsyms_cache_path(a, root) != kallsyms_cache_path(c, root)
    assert kallsyms_cache_path(a, root).parent == root / "kallsyms"
