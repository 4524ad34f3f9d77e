"""vDSO calls (`--vdso`): clock_gettime and friends answered in user space, which no syscall
probe sees.

At a process's first entry to user mode its stack holds argc, argv, envp and the auxiliary
vector; AT_SYSINFO_EHDR there is the vDSO's ELF image. The agent sends the image once per base
and asks for a stop; the tracer reads its dynamic symbols (pyelftools) and arms a probe at each
function. A hit reads the argument registers and the return address: no boundary crossed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tracer.events import Event, Note, SegBases, VdsoCall
from tracer.probes.kinds import AgentProbe, ProbeKind
from tracer.probes.stops import MASK64, Cpu, ProbeSpec, StopContext

if TYPE_CHECKING:
    from tracer.probes.builder import EventBuilder
    from tracer.target.gdb import ProbeHit

AT_NULL, AT_SYSINFO_EHDR = 0, 33
WORD = 8
STACK_WORDS = 512  # words read at a time while walking argv and envp
MAX_STACK_WORDS = 64 * 1024  # argv + envp + auxv words before giving up
PAGE = 4096
MAX_IMAGE = 64 * 1024
PT_LOAD = 1
CR3_FLAGS = 0xFFF
ARG_REGISTERS = ("rdi", "rsi", "rdx", "rcx", "r8", "r9")
VDSO_PREFIX = "__vdso_"
NO_VDSO = 0  # the address spaces seen without one


# --- at the stop (in gdb) ----------------------------------------------------------------------


def _words(cpu: Cpu, addr: int, count: int) -> list[int] | None:
    data = cpu.read(addr, count * WORD)
    if data is None:
        return None
    return [int.from_bytes(data[i : i + WORD], "little") for i in range(0, len(data), WORD)]


def auxv_value(cpu: Cpu, user_rsp: int, wanted: int) -> int | None:
    """An auxiliary-vector entry from a new process's stack: argc, argv..., 0, envp..., 0,
    then (type, value) pairs up to AT_NULL."""
    first = _words(cpu, user_rsp, 1)
    if first is None or first[0] > MAX_STACK_WORDS:
        return None
    addr = user_rsp + WORD * (first[0] + 2)  # past argc, argv and its NULL
    nulls_to_skip = 1  # envp's terminator
    pending: list[int] = []
    while addr - user_rsp < MAX_STACK_WORDS * WORD:
        # up to the page's end: the stack's top page may be the last one mapped
        count = min(STACK_WORDS, (PAGE - addr % PAGE) // WORD)
        chunk = _words(cpu, addr, count)
        if chunk is None:
            return None
        addr += count * WORD
        for word in chunk:
            if nulls_to_skip:
                nulls_to_skip -= word == 0
                continue
            pending.append(word)
            if len(pending) == 2:
                kind, value = pending
                pending = []
                if kind == wanted:
                    return value
                if kind == AT_NULL:
                    return None
    return None


def image_size(cpu: Cpu, base: int) -> tuple[int, int] | None:
    """How much of the mapped ELF to read: with its section headers, and its loaded segments
    alone (both capped)."""
    header = cpu.read(base, 64)
    if header is None or header[:4] != b"\x7fELF":
        return None
    phoff, shoff = (int.from_bytes(header[o : o + 8], "little") for o in (0x20, 0x28))
    phentsize, phnum, shentsize, shnum = (
        int.from_bytes(header[o : o + 2], "little") for o in (0x36, 0x38, 0x3A, 0x3C)
    )
    phdrs = cpu.read(base + phoff, phentsize * phnum) if phnum else None
    if phdrs is None:
        return None
    end = 0
    for i in range(phnum):
        ph = phdrs[i * phentsize : (i + 1) * phentsize]
        if int.from_bytes(ph[0:4], "little") == PT_LOAD:
            offset, filesz = (int.from_bytes(ph[o : o + 8], "little") for o in (0x08, 0x20))
            end = max(end, offset + filesz)
    return min(max(end, shoff + shentsize * shnum), MAX_IMAGE), min(end, MAX_IMAGE)


def at_user_entry(ctx: StopContext, cpu: Cpu, cr3: int, user_rsp: int) -> bool:
    """A return to user mode with no frame seen: for a new address space, its vDSO. True asks
    for a stop (the tracer arms the image's functions), once per image."""
    space = cr3 & ~CR3_FLAGS
    if any(space in spaces for spaces in ctx.vdso_spaces.values()):
        return False  # a thread's first return, or an address space already seen
    base = auxv_value(cpu, user_rsp, AT_SYSINFO_EHDR)
    if not base:
        ctx.vdso_spaces.setdefault(NO_VDSO, set()).add(space)  # not looked for again
        return False
    known = base in ctx.vdso_spaces
    ctx.vdso_spaces.setdefault(base, set()).add(space)
    if known:
        return False
    sizes = image_size(cpu, base)
    if sizes is None:
        return False
    whole, loaded = sizes
    image = cpu.read(base, whole) or cpu.read(base, loaded)  # section headers may be unmapped
    if image is None:
        return False
    ctx.emit(ProbeKind.VDSO_IMAGE, cpu.reg("rip"), cpu, base=base, image=image.hex())
    return True


def at_call(ctx: StopContext, probe: ProbeSpec, cpu: Cpu) -> bool:
    spaces = ctx.vdso_spaces.get(int(probe.get("base", 0)), set())
    if cpu.reg("cr3") & ~CR3_FLAGS not in spaces:
        return False  # another address space's code at this address
    ret = _words(cpu, cpu.reg("rsp"), 1)
    ctx.emit(
        ProbeKind.VDSO_CALL,
        cpu.reg("rip"),
        cpu,
        name=probe.get("symbol", ""),
        args=[cpu.reg(name) & MASK64 for name in ARG_REGISTERS],
        return_addr=ret[0] if ret else 0,
    )
    return False


# --- events ------------------------------------------------------------------------------------


@dataclass
class VdsoProbes:
    """Probes found in vDSO images, waiting for the stop that arms them."""

    pending: list[AgentProbe] = field(default_factory=list)
    armed: set[int] = field(default_factory=set)


def vdso_functions(image: bytes) -> dict[int, str]:
    """The image's exported functions by offset, one name each (`clock_gettime`, not its
    `__vdso_` alias)."""
    import io  # noqa: PLC0415 - tracer side only

    from elftools.elf.dynamic import DynamicSegment  # noqa: PLC0415
    from elftools.elf.elffile import ELFFile  # noqa: PLC0415
    from elftools.elf.sections import SymbolTableSection  # noqa: PLC0415

    elf = ELFFile(io.BytesIO(image))
    table = elf.get_section_by_name(".dynsym") if elf.num_sections() else None
    if isinstance(table, SymbolTableSection):
        symbols = list(table.iter_symbols())
    else:  # no section headers in memory: the dynamic segment's symbol table
        segment = next((s for s in elf.iter_segments() if isinstance(s, DynamicSegment)), None)
        symbols = list(segment.iter_symbols()) if segment is not None else []
    out: dict[int, str] = {}
    for symbol in symbols:
        if symbol["st_info"]["type"] != "STT_FUNC" or not symbol["st_value"] or not symbol.name:
            continue
        name = symbol.name.removeprefix(VDSO_PREFIX)
        if symbol["st_value"] not in out or len(name) < len(out[symbol["st_value"]]):
            out[symbol["st_value"]] = name
    return out


def on_image(core: EventBuilder, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
    base = int(hit.fields.get("base", 0))
    state = core.state(VdsoProbes)
    try:
        functions = vdso_functions(bytes.fromhex(hit.fields.get("image", "")))
    except Exception as exc:  # noqa: BLE001 - whatever the guest mapped there, say so and go on
        out.append(Note(core.next_seq(), core.time(hit), f"vDSO at {base:#x} unreadable: {exc}"))
        return
    for offset, name in sorted(functions.items()):
        addr = (base + offset) & MASK64
        if addr not in state.armed:
            state.armed.add(addr)
            extra: tuple[tuple[str, Any], ...] = (("symbol", name), ("base", base))
            state.pending.append(AgentProbe(addr, ProbeKind.VDSO_CALL, extra))
    names = ", ".join(sorted(set(functions.values()))) or "no functions"
    out.append(Note(core.next_seq(), core.time(hit), f"vDSO at {base:#x}: {names}"))


def take_pending(core: EventBuilder) -> list[AgentProbe]:
    """The vDSO probes to arm now (at the stop the image asked for)."""
    state = core.state(VdsoProbes)
    pending, state.pending = state.pending, []
    return pending


def on_call(core: EventBuilder, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
    args = tuple(int(a) for a in hit.fields.get("args") or ())
    out.append(
        VdsoCall(
            core.next_seq(),
            core.time(hit),
            hit.cpu,
            core.pid(hit),
            str(hit.fields.get("name", "")),
            (args + (0,) * 6)[:6],  # type: ignore[arg-type]
            hit.pc,
            int(hit.fields.get("return_addr", 0)),
        )
    )
