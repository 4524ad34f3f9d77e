"""A small, plausible trace built in code: boot MSR writes, two processes switched between,
their syscalls with swapgs around them, arch_prctl setting FS, a TLS snapshot, a page fault,
function events inside one write, a base change of unknown cause, a gap and a warning."""

from __future__ import annotations

from collections.abc import Iterator

from tracer.events import (
    ContextSwitch,
    Event,
    FuncEntry,
    FuncExit,
    Gap,
    Interrupt,
    MsrRead,
    MsrWrite,
    Note,
    ProcessEvent,
    SegBaseChange,
    SegBases,
    SegCause,
    SyscallEntry,
    SyscallExit,
    TlsSnapshot,
)

KERNEL = "guest/build/kernel.elf"
DO_SYSCALL_64 = 0xFFFF_FFFF_8011_1950
NAMES = {1: "hello-glibc", 2: "tls-musl"}
PERCPU = 0xFFFF_FFFF_8011_B0C0
TCB = {1: 0x4C_8380, 2: 0x4D_1000}
ENTRY_PC = 0xFFFF_FFFF_8010_607F  # the call to do_syscall_64 in fixtures/kernel.elf
EXIT_PC = 0xFFFF_FFFF_8010_6123  # its sysretq
SWAPGS_IN_PC = 0xFFFF_FFFF_8010_6020
SWAPGS_OUT_PC = 0xFFFF_FFFF_8010_6120
WRMSR_PC = 0xFFFF_FFFF_8010_7F60
SWITCH_PC = 0xFFFF_FFFF_8010_8000
PF_PC = 0xFFFF_FFFF_8010_6200
FIELDS = "r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di orig_ax ip cs flags sp ss".split()
HELLO = b"Hello, world!\n"


class _Clock:
    def __init__(self) -> None:
        self.seq = 0
        self.time_ns = 1_000_000

    def __call__(self, step: int = 1500) -> tuple[int, int]:
        self.seq += 1
        self.time_ns += step
        return self.seq - 1, self.time_ns


def _regs(
    nr: int, args: tuple[int, ...], rip: int, rsp: int, ax: int
) -> tuple[tuple[str, int], ...]:
    values = dict.fromkeys(FIELDS, 0)
    values.update(
        di=args[0],
        si=args[1],
        dx=args[2],
        r10=args[3],
        r8=args[4],
        r9=args[5],
        orig_ax=nr,
        ax=ax,
        ip=rip,
        cx=rip,
        flags=0x246,
        r11=0x246,
        sp=rsp,
        cs=0x33,
        ss=0x2B,
        bp=rsp + 0x40,
        bx=0x1,
    )
    return tuple((name, values[name]) for name in FIELDS)


def _syscall(
    clock: _Clock,
    cpu: int,
    pid: int,
    nr: int,
    args: tuple[int, ...],
    ret: int,
    fs: int,
    memory: tuple = (),
    exit_memory: tuple = (),
) -> list[Event]:
    cr3 = 0x20_0000 + pid * 0x1000
    rip, rsp = 0x40_1000 + nr * 4, 0x7FFF_FFFF_E000 - pid * 0x100
    padded = tuple(args) + (0,) * (6 - len(args))
    entry_bases = SegBases(fs, PERCPU, 0)
    events: list[Event] = [
        SegBaseChange(*clock(), cpu, pid, "gs", 0, PERCPU, SegCause.SWAPGS, SWAPGS_IN_PC, True),
        SegBaseChange(*clock(0), cpu, pid, "kgs", PERCPU, 0, SegCause.SWAPGS, SWAPGS_IN_PC, True),
    ]
    entry = SyscallEntry(
        *clock(),
        cpu,
        pid,
        cr3,
        nr,
        padded,
        rip,
        rsp,
        0x246,  # type: ignore[arg-type]
        0xFFFF_FFFF_8012_0F58,
        _regs(nr, padded, rip, rsp, (-38) & (2**64 - 1)),
        entry_bases,
        ENTRY_PC,
        memory,
    )
    events.append(entry)
    if nr == 158 and padded[0] == 0x1002:
        events.append(
            SegBaseChange(
                *clock(), cpu, pid, "fs", fs, padded[1], SegCause.ARCH_PRCTL, 0xFFFF_FFFF_8010_9000
            )
        )
        fs = padded[1]
    if nr in (60, 231):
        return events
    if nr == 1 and pid == 1:
        guest = 5_000_000
        for depth, addr, leaf in ((0, DO_SYSCALL_64, False), (1, DO_SYSCALL_64 + 0x40, True)):
            events.append(FuncEntry(*clock(10), cpu, pid, addr, depth, guest + depth * 100))
            if leaf:
                events.append(FuncExit(*clock(10), cpu, pid, addr, depth, guest + 15_000, 14))
        events.append(FuncExit(*clock(10), cpu, pid, DO_SYSCALL_64, 0, guest + 150_000, 14))
    events.append(
        SegBaseChange(*clock(), cpu, pid, "gs", PERCPU, 0, SegCause.SWAPGS, SWAPGS_OUT_PC, True)
    )
    events.append(
        SegBaseChange(*clock(0), cpu, pid, "kgs", 0, PERCPU, SegCause.SWAPGS, SWAPGS_OUT_PC, True)
    )
    exit_bases = SegBases(fs, 0, PERCPU)  # the stop is at sysretq, after the exit swapgs
    events.append(
        SyscallExit(
            *clock(4000),
            cpu,
            pid,
            cr3,
            nr,
            ret,
            entry.seq,
            rip,
            rsp,
            0x246,
            _regs(nr, padded, rip, rsp, ret),
            exit_bases,
            EXIT_PC,
            exit_memory,
        )
    )
    return events


def demo_events() -> Iterator[Event]:
    clock = _Clock()
    yield Note(*clock(), "capture started")
    yield MsrWrite(*clock(), 0, 0, 0xC000_0080, 0x500, 0xD01, WRMSR_PC)
    yield MsrWrite(*clock(), 0, 0, 0xC000_0081, None, 0x0023_0010_0000_0000, WRMSR_PC)
    yield MsrWrite(*clock(), 0, 0, 0xC000_0082, None, 0xFFFF_FFFF_8010_6020, WRMSR_PC)
    yield MsrWrite(*clock(), 0, 0, 0xC000_0084, None, 0x4_7700, WRMSR_PC)
    yield MsrWrite(*clock(), 0, 0, 0xC000_0101, 0, PERCPU, WRMSR_PC)
    for pid, name in ((1, "hello-glibc"), (2, "tls-musl")):
        yield ProcessEvent(*clock(), 0, pid, 0x20_0000 + pid * 0x1000, "start", name)
    fs = {1: 0, 2: 0}
    script = [
        (1, 12, (0,), 0x4C_9000, (), ()),
        (1, 158, (0x1002, TCB[1]), 0, (), ()),
        (2, 158, (0x1002, TCB[2]), 0, (), ()),
        (1, 21, (0x4A_0000, 4), (-2) & (2**64 - 1), ((0, b"/etc/ld.so.nohwcap"),), ()),
        (1, 1, (1, 0x4C_A000, len(HELLO)), len(HELLO), ((1, HELLO),), ()),
        (2, 39, (), 2, (), ()),
        (2, 1, (1, 0x4D_2000, 6), 6, ((1, b"tls: 1"),), ()),
    ]
    first = True
    running = 1
    for pid, nr, args, ret, memory, exit_memory in script:
        if pid != running:
            yield ContextSwitch(*clock(), 0, running, pid, NAMES[running], NAMES[pid], SWITCH_PC)
            running = pid
        events = _syscall(clock, 0, pid, nr, args, ret, fs[pid], memory, exit_memory)
        for event in events:
            if isinstance(event, SegBaseChange) and event.which == "fs":
                fs[pid] = event.new
            yield event
        if nr == 158 and pid == 2:
            yield TlsSnapshot(
                *clock(),
                0,
                2,
                TCB[2],
                TCB[2],
                "app-tcb[tls-musl:2]",
                (("tls_init", 42), ("tls_zero", 0), ("tls_text", None)),
            )
        if first:
            for msr, value in ((0xC000_0080, 0xD01), (0xC000_0101, PERCPU), (0xC000_0102, 0)):
                yield MsrRead(*clock(), 0, 0, msr, value, ENTRY_PC)
            first = False
    yield Interrupt(*clock(), 0, 2, "entry", 14, "#PF", 6, 0x4D_3000, 3, 0x40_1234, PF_PC)
    yield Interrupt(*clock(), 0, 2, "exit", 14, "#PF", None, None, 3, 0x40_1234, PF_PC + 0x80)
    yield SegBaseChange(*clock(), 0, 2, "fs", TCB[2], 0xDEAD_0000, SegCause.UNKNOWN, 0)
    yield Gap(*clock(), "agent pipe overflow", 12)
    yield Note(*clock(), "guest printed to an unknown port", "warning")
    for pid in (1, 2):
        if pid != running:
            yield ContextSwitch(*clock(), 0, running, pid, NAMES[running], NAMES[pid], SWITCH_PC)
            running = pid
        yield from _syscall(clock, 0, pid, 231, (0,), 0, fs[pid])
        yield ProcessEvent(*clock(), 0, pid, 0x20_0000 + pid * 0x1000, "exit", NAMES[pid], 0)
    yield Note(*clock(), "guest powered off")


def demo_meta(kernel: str = KERNEL) -> dict[str, str]:
    return {
        "kernel": kernel,
        "programs": "guest/build/user/hello-glibc guest/build/user/tls-musl",
        "cmdline": "tls=linux",
        "mode": "default",
    }
