"""What keeps a capture's start-up on Linux's 125k symbols short gives the answers the plain
ways give: the symbol table kept in the cache, the table sorted by integer keys, and the scan
that searches for the next signature rather than each stretch between symbols."""

from __future__ import annotations

import random
import re
import struct
from pathlib import Path

import pytest

from tracer.image import symtab_cache
from tracer.image.disasm import _stretches_to_sweep
from tracer.image.symbols import Symbol, SymbolTable, _rank, parse_symtab

SECTIONS = ["", ".text", ".data", ".init.text"]
_SYM = struct.Struct("<IBBHQQ")


def symtab_bytes(count: int, seed: int) -> tuple[bytes, bytes]:
    """`count` Elf64_Sym records of every type and bind, names sharing a string table."""
    rng = random.Random(seed)
    strings, table = bytearray(b"\0"), bytearray(_SYM.pack(0, 0, 0, 0, 0, 0))
    for i in range(count):
        name_off = len(strings)
        strings += f"sym_{i % (count // 3)}_{rng.randrange(9)}\0".encode()
        info = rng.choice((0, 1, 2, 6)) | rng.choice((0, 1, 2)) << 4
        addr = 0xFFFFFFFF81000000 + rng.randrange(1 << 20)
        table += _SYM.pack(name_off, info, 0, rng.randrange(1, 4), addr, rng.randrange(64))
    return bytes(table), bytes(strings)


def test_a_big_symbol_table_comes_back_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACER_CACHE", str(tmp_path))
    table, strings = symtab_bytes(12_000, seed=1)
    assert len(table) >= symtab_cache._KEEP_FROM_BYTES
    decoded = parse_symtab(table, strings, SECTIONS)
    assert symtab_cache.parse_symtab_kept(table, strings, SECTIONS) == decoded  # and kept
    (kept,) = (tmp_path / "symtab").iterdir()
    assert symtab_cache.parse_symtab_kept(table, strings, SECTIONS) == decoded  # read back
    calls: list[int] = []
    monkeypatch.setattr(symtab_cache, "parse_symtab", lambda *a: calls.append(1) or decoded)
    assert symtab_cache.parse_symtab_kept(table, strings, SECTIONS) == decoded and not calls
    kept.write_bytes(kept.read_bytes()[:1000])  # damaged: decoded again
    assert symtab_cache.parse_symtab_kept(table, strings, SECTIONS) == decoded and calls


def test_a_small_symbol_table_is_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACER_CACHE", str(tmp_path))
    table, strings = symtab_bytes(100, seed=2)
    assert symtab_cache.parse_symtab_kept(table, strings, SECTIONS) == parse_symtab(
        table, strings, SECTIONS
    )
    assert not (tmp_path / "symtab").exists()


def test_the_table_orders_as_by_rank_and_address() -> None:
    table, strings = symtab_bytes(3000, seed=3)
    symbols = [s for s in parse_symtab(table, strings, SECTIONS) if s.type != "tls"]
    found = SymbolTable(symbols, [])
    by_name: dict[str, Symbol] = {}
    for sym in sorted(symbols, key=_rank):  # stable: the first of the best rank
        by_name.setdefault(sym.name, sym)
    assert all(found.get(name) is sym for name, sym in by_name.items())
    assert found._all == sorted(symbols, key=lambda s: (s.addr, _rank(s)))
    text = found.code_symbols(".text")
    assert text == [s for s in found._all if s.section == ".text" and s.type in ("func", "notype")]


@pytest.mark.parametrize("seed", range(20))
def test_the_stretches_swept_are_those_holding_a_whole_signature(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracer.image import disasm

    rng = random.Random(seed)
    code = bytes(rng.choice(b"\x0f\x30\x01\xf8\x90\xcf") for _ in range(4000))
    base = 0x1000
    points = sorted({base, *(base + rng.randrange(4000) for _ in range(rng.randrange(1, 400)))})
    monkeypatch.setattr(disasm, "_sync_points", lambda image, section: points)  # symbols' starts
    section = type("S", (), {"addr": base, "size": len(code)})()
    pattern = re.compile(b"\x0f\x30|\x0f\x01\xf8|\xcf")
    bounds = [p - base for p in points] + [len(code)]
    plain = [(lo, hi) for lo, hi in zip(bounds, bounds[1:], strict=False)
             if pattern.search(code, lo, hi) is not None]  # fmt: skip
    swept = _stretches_to_sweep(None, section, code, pattern)  # type: ignore[arg-type]
    assert list(swept) == plain
