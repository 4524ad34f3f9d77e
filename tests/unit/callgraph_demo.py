"""Event streams written by hand: function calls, syscalls, interrupts and switches in the order
a capture records them. For tests and demos of the call graph until real traces carry
function events.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from tracer.events import (
    ContextSwitch,
    Event,
    FuncEntry,
    FuncExit,
    Gap,
    Interrupt,
    MsrWrite,
    ProcessEvent,
    SegBaseChange,
    SegBases,
    SegCause,
    SegReg,
    SyscallEntry,
    SyscallExit,
    TlsSnapshot,
)

KERNEL_TEXT = 0xFFFF_FFFF_8100_0000
FS_BASE_MSR = 0xC000_0100
USER_RIP = 0x40_1000


class ScriptedTrace:
    """Appends events with increasing seq. Guest time and host time advance together but at
    different rates (host = 3 x guest + 1 ms), so a test can tell which one a view printed."""

    def __init__(
        self,
        *,
        cpu: int = 0,
        pid: int = 1,
        guest_time: bool = True,
        source: Literal["ringbuf", "breakpoint"] = "ringbuf",
    ) -> None:
        self.events: list[Event] = []
        self.cpu = cpu
        self.pid = pid
        self.guest_time = guest_time
        self.source = source
        self.guest_ns = 0
        self.addresses: dict[str, int] = {}
        self.depths: dict[tuple[int, int], int] = {}
        self.bases = SegBases(0, 0, 0)

    # -- clocks and symbols --------------------------------------------------------------------

    @property
    def host_ns(self) -> int:
        return 1_000_000 + 3 * self.guest_ns

    def tick(self, ns: int) -> None:
        self.guest_ns += ns

    def addr(self, name: str) -> int:
        if name not in self.addresses:
            self.addresses[name] = KERNEL_TEXT + 0x100 * (len(self.addresses) + 1)
        return self.addresses[name]

    def symbolize(self, addr: int) -> str | None:
        for name, start in self.addresses.items():
            if start <= addr < start + 0x100:
                return name if addr == start else f"{name}+{addr - start:#x}"
        return None

    def _next(self) -> tuple[int, int]:
        seq = len(self.events) + 1
        self.tick(10)  # every recorded event costs the guest a little time
        return seq, self.host_ns

    def _guest(self) -> int | None:
        return self.guest_ns if self.guest_time else None

    # -- functions -----------------------------------------------------------------------------

    def enter(self, name: str) -> None:
        key = (self.cpu, self.pid)
        depth = self.depths.get(key, 0)
        seq, now = self._next()
        self.events.append(
            FuncEntry(
                seq, now, self.cpu, self.pid, self.addr(name), depth, self._guest(), self.source
            )
        )
        self.depths[key] = depth + 1

    def exit(self, name: str, retval: int | None = None) -> None:
        key = (self.cpu, self.pid)
        depth = max(0, self.depths.get(key, 0) - 1)
        self.depths[key] = depth
        seq, now = self._next()
        self.events.append(
            FuncExit(
                seq,
                now,
                self.cpu,
                self.pid,
                self.addr(name),
                depth,
                self._guest(),
                retval,
                self.source,
            )
        )

    @contextmanager
    def call(self, name: str, ns: int = 100, retval: int | None = None) -> Iterator[None]:
        self.enter(name)
        yield
        self.tick(ns)
        self.exit(name, retval)

    def leaf(self, name: str, ns: int = 100, retval: int | None = None) -> None:
        with self.call(name, ns, retval):
            pass

    # -- syscalls, interrupts, switches, inline events ----------------------------------------

    def syscall_entry(
        self,
        nr: int,
        args: tuple[int, ...] = (),
        user_rip: int = USER_RIP,
        memory: tuple[tuple[int, bytes | None], ...] = (),
    ) -> SyscallEntry:
        seq, now = self._next()
        full = (tuple(args) + (0,) * 6)[:6]
        entry = SyscallEntry(
            seq,
            now,
            self.cpu,
            self.pid,
            0x1000 * self.pid,
            nr,
            full,  # type: ignore[arg-type]
            user_rip,
            0x7FFF_F000,
            0x246,
            0xFFFF_C900_0000_7F58,
            (),
            self.bases,
            self.addr("entry_SYSCALL_64") + 0x40,
            memory,
        )
        self.events.append(entry)
        return entry

    def syscall_exit(
        self, nr: int, ret: int, user_rip: int = USER_RIP, entry_seq: int | None = None
    ) -> None:
        seq, now = self._next()
        self.events.append(
            SyscallExit(
                seq,
                now,
                self.cpu,
                self.pid,
                0x1000 * self.pid,
                nr,
                ret & (1 << 64) - 1,
                entry_seq,
                user_rip,
                0x7FFF_F000,
                0x246,
                (),
                self.bases,
                self.addr("entry_SYSCALL_64") + 0x90,
            )
        )

    @contextmanager
    def syscall(
        self,
        nr: int,
        args: tuple[int, ...] = (),
        ret: int = 0,
        user_rip: int = USER_RIP,
        memory: tuple[tuple[int, bytes | None], ...] = (),
    ) -> Iterator[None]:
        entry = self.syscall_entry(nr, args, user_rip, memory)
        yield
        self.syscall_exit(nr, ret, user_rip, entry.seq)

    def interrupt(
        self,
        action: Literal["entry", "exit"],
        vector: int = 32,
        name: str = "timer",
        from_ring: int = 0,
        rip: int = 0,
    ) -> None:
        seq, now = self._next()
        self.events.append(
            Interrupt(
                seq,
                now,
                self.cpu,
                self.pid,
                action,
                vector,
                name,
                None,
                None,
                from_ring,
                rip or self.addr("do_syscall_64"),
                self.addr("asm_interrupt"),
            )
        )

    def switch(self, next_pid: int, prev_name: str, next_name: str) -> None:
        seq, now = self._next()
        self.events.append(
            ContextSwitch(
                seq,
                now,
                self.cpu,
                self.pid,
                next_pid,
                prev_name,
                next_name,
                self.addr("__switch_to"),
            )
        )
        self.pid = next_pid

    def process(
        self, action: Literal["start", "exit"], name: str, status: int | None = None
    ) -> None:
        seq, now = self._next()
        self.events.append(
            ProcessEvent(seq, now, self.cpu, self.pid, 0x1000 * self.pid, action, name, status)
        )

    def wrmsr(self, msr: int, old: int | None, new: int) -> None:
        seq, now = self._next()
        self.events.append(
            MsrWrite(seq, now, self.cpu, self.pid, msr, old, new, self.addr("do_arch_prctl") + 0x20)
        )

    def segbase(self, which: SegReg, new: int, cause: SegCause, owner: str = "") -> None:
        old = self.bases.get(which)
        fields = {"fs": "fs_base", "gs": "gs_base", "kgs": "kernel_gs_base"}
        values = {
            "fs_base": self.bases.fs_base,
            "gs_base": self.bases.gs_base,
            "kernel_gs_base": self.bases.kernel_gs_base,
            fields[which]: new,
        }
        self.bases = SegBases(**values)
        seq, now = self._next()
        self.events.append(
            SegBaseChange(
                seq,
                now,
                self.cpu,
                self.pid,
                which,
                old,
                new,
                cause,
                self.addr("do_arch_prctl") + 0x20,
                False,
                "",
                owner,
            )
        )

    def tls(self, fs_base: int, owner: str, ok: bool = True) -> None:
        seq, now = self._next()
        self.events.append(
            TlsSnapshot(
                seq, now, self.cpu, self.pid, fs_base, fs_base if ok else 0, owner, (("errno", 0),)
            )
        )

    def gap(self, reason: str, count: int | None = None) -> None:
        seq, now = self._next()
        self.events.append(Gap(seq, now, reason, count))


def hello_glibc(guest_time: bool = True) -> ScriptedTrace:
    """A static glibc hello world, graphed in ring-buffer mode: arch_prctl sets FS (wrmsr),
    brk, write to the console with a timer interrupt inside, exit_group."""
    t = ScriptedTrace(guest_time=guest_time)
    t.process("start", "hello-glibc")
    with t.syscall(158, (0x1002, 0x4C_A3C0), 0, USER_RIP + 0x12):  # arch_prctl(ARCH_SET_FS)
        with t.call("do_syscall_64", 50):
            with t.call("__x64_sys_arch_prctl", 40, 0):
                with t.call("do_arch_prctl", 60, 0):
                    t.wrmsr(FS_BASE_MSR, 0, 0x4C_A3C0)
                    t.segbase("fs", 0x4C_A3C0, SegCause.ARCH_PRCTL, "hello-glibc")
    t.tls(0x4C_A3C0, "hello-glibc")
    with t.syscall(12, (0,), 0x4CB000, USER_RIP + 0x40):  # brk(NULL)
        with t.call("do_syscall_64", 30):
            t.leaf("__x64_sys_brk", 1_500, 0x4CB000)
    text = b"Hello, world!\n"
    with t.syscall(1, (1, 0x49_8004, len(text)), len(text), USER_RIP + 0x80, ((1, text),)):
        with t.call("do_syscall_64", 40):
            with t.call("__x64_sys_write", 30, len(text)):
                with t.call("ksys_write", 25, len(text)):
                    with t.call("vfs_write", 20, len(text)):
                        t.interrupt("entry", from_ring=0)
                        with t.call("timer_interrupt", 500):
                            t.leaf("tick_handle", 12_000)
                        t.interrupt("exit")
                        t.leaf("console_write", 150_000, len(text))
    t.syscall_entry(231, (0,), USER_RIP + 0xC0)  # exit_group(0): does not return
    t.enter("do_syscall_64")
    t.enter("do_exit")
    t.process("exit", "hello-glibc", 0)
    return t
