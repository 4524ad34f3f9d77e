"""Function-graph probes by breakpoints: any kernel ELF with symbols, no instrumentation.

A breakpoint on each chosen function's first instruction and on each of its return sites
(`ret` and tail `jmp`s out of the function, found by disassembly). Every stop is expensive under
TCG (QEMU flushes its translation cache), so a large set is refused unless asked for.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from tracer.image import ElfImage, disassemble

LARGE_SET = 40


@dataclass(frozen=True)
class GraphFunction:
    name: str
    addr: int
    size: int
    returns: tuple[int, ...]  # `ret` instructions
    tail_calls: tuple[tuple[int, int], ...] = ()  # (jmp site, target) leaving the function


class GraphError(Exception):
    """The function set cannot be graphed as asked."""


def select_functions(image: ElfImage, patterns: list[str]) -> list[str]:
    """Function names matching shell-style patterns (`sys_*`, `do_syscall_64`)."""
    names = sorted({s.name for s in image.symbols if s.type == "func" and s.size})
    chosen: list[str] = []
    for pattern in patterns:
        matches = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not matches:
            raise GraphError(f"no function matches {pattern!r}")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def return_sites(
    image: ElfImage, addr: int, size: int
) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    """`ret` instructions, and jumps that leave the function (tail calls) with their targets."""
    rets, tails = [], []
    for insn in disassemble(image, addr, addr + size):
        if insn.mnemonic.startswith("ret"):
            rets.append(insn.addr)
        elif insn.mnemonic == "jmp" and insn.op_str.startswith("0x"):
            target = int(insn.op_str, 16)
            if not addr <= target < addr + size:
                tails.append((insn.addr, target))
    return tuple(rets), tuple(tails)


def graph_functions(
    image: ElfImage, patterns: list[str], allow_large: bool = False
) -> list[GraphFunction]:
    names = select_functions(image, patterns)
    if len(names) > LARGE_SET and not allow_large:
        raise GraphError(
            f"{len(names)} functions match: every call costs two guest stops (QEMU flushes its "
            f"translation cache at each); narrow the set or pass --graph-large"
        )
    out = []
    for name in names:
        sym = image.symbol(name)
        assert sym is not None
        rets, tails = return_sites(image, sym.addr, sym.size)
        out.append(GraphFunction(name, sym.addr, sym.size, rets, tails))
    return out


def resolve_functions(image: ElfImage, patterns: tuple[str, ...] | list[str]) -> list[int]:
    """Addresses of the functions the patterns name (for ring-buffer filters)."""
    if not patterns:
        return []
    out = []
    for name in select_functions(image, list(patterns)):
        sym = image.symbol(name)
        if sym is not None:
            out.append(int(sym.addr))
    return out
