"""The kernel a trace names, as report, check, export and the TUI open it; and the checker's
facts about it, kept in the cache under the files they were read from."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tracer.analysis import kernel_facts as kernel_facts_module
from tracer.analysis.kernel_facts import kernel_facts
from tracer.image.trace_kernel import TraceKernel

GUEST = Path(__file__).resolve().parents[1] / "tui" / "fixtures" / "kernel.elf"


def test_meta_paths_are_beside_the_trace(tmp_path: Path) -> None:
    meta = {"kernel": "k.elf", "symbols": "System.map", "kaslr_slide": "0x200000"}
    kernel = TraceKernel.of(meta, tmp_path / "t.db")
    assert kernel == TraceKernel(tmp_path / "k.elf", tmp_path / "System.map", 0x200000)
    absolute = TraceKernel.of({"kernel": "/boot/k", "kaslr_slide": "-0x400000"}, tmp_path / "t.db")
    assert absolute == TraceKernel(Path("/boot/k"), None, -0x400000)
    given = TraceKernel.of(meta, tmp_path / "t.db", kernel=Path("/other/vmlinux"))
    assert given.path == Path("/other/vmlinux") and given.symbols == tmp_path / "System.map"
    assert TraceKernel.of({"kaslr_slide": "junk"}).slide == 0
    assert not TraceKernel.of({}).readable


def test_running_addresses_are_unslid_before_they_are_named() -> None:
    names = {0xFFFFFFFF81000080: "entry_SYSCALL_64"}
    kernel = TraceKernel(None, None, 0x1E00000)
    running = kernel.running(names.get)
    assert running is not None and running(0xFFFFFFFF82E00080) == "entry_SYSCALL_64"
    assert running(0xFFFFFFFF81000080) is None
    lookup = names.get
    assert TraceKernel(None).running(lookup) is lookup  # no slide, no wrapper
    assert kernel.unslid(0x1000) == (0x1000 - 0x1E00000) % (1 << 64)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The cache in tmp_path, keeping facts of any kernel (the built-in one is small)."""
    monkeypatch.setenv("TRACER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(kernel_facts_module, "KEEP_FROM_CODE_BYTES", 0)
    return tmp_path / "cache"


def test_facts_come_from_the_cache_until_the_kernel_changes(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not GUEST.exists():
        pytest.skip(f"{GUEST} missing")
    elf = tmp_path / "kernel.elf"
    shutil.copy(GUEST, elf)
    facts, _ = kernel_facts(elf, {})
    assert facts.uses_fs and facts.fs_functions  # the built-in kernel's %fs: users
    assert len(list((cache / "kernel-facts").iterdir())) == 1
    opened: list[Path] = []
    real_open = TraceKernel.open
    monkeypatch.setattr(
        TraceKernel, "open", lambda self: opened.append(self.path) or real_open(self)
    )
    again, symbolize = kernel_facts(elf, {})
    assert again == facts and opened == []  # from the cache, the image not read
    name = next(iter(facts.fs_functions))
    assert symbolize is not None
    image = real_open(TraceKernel(elf))
    symbol = image.symbol(name)
    assert symbol is not None and symbolize(symbol.addr) == name and opened == [elf]  # on demand
    os.utime(elf, ns=(1, 1))  # another kernel at the same place: read again
    kernel_facts(elf, {})
    assert opened == [elf, elf] and len(list((cache / "kernel-facts").iterdir())) == 2


def test_a_small_kernel_is_scanned_each_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not GUEST.exists():
        pytest.skip(f"{GUEST} missing")
    monkeypatch.setenv("TRACER_CACHE", str(tmp_path))
    facts, _ = kernel_facts(GUEST, {})
    assert facts.fs_functions and not (tmp_path / "kernel-facts").exists()


def test_an_unreadable_kernel_gives_facts_without_it(tmp_path: Path, cache: Path) -> None:
    bad = tmp_path / "kernel.elf"
    bad.write_bytes(b"not an elf")
    facts, symbolize = kernel_facts(bad, {"gdt": "00" * 8})
    assert symbolize is None and not facts.uses_fs and facts.gdt == bytes(8)
    assert not (cache / "kernel-facts").exists()
