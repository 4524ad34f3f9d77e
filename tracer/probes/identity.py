"""Which thread a hit belongs to.

With a context-switch probe the kernel's own answer is used (the task's pid and comm, read
through DWARF). Before the first switch, or on a kernel without one, an address space (CR3) is
a process, numbered in the order they first cross into user mode and named after the programs
in launch order; an address space is forgotten when its process calls exit/exit_group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

CR3_FLAGS = 0xFFF  # PCID / PWT / PCD bits: not part of the address-space identity


@dataclass
class Thread:
    pid: int
    name: str


@dataclass
class Identity:
    program_names: Sequence[str]
    by_cr3: dict[int, Thread] = field(default_factory=dict)
    current: dict[int, Thread] = field(default_factory=dict)  # cpu -> running thread
    names: dict[int, str] = field(default_factory=dict)  # pid -> name
    started: set[int] = field(default_factory=set)
    next_pid: int = 1
    execs: dict[int, tuple[int, str]] = field(default_factory=dict)  # cpu -> (pid, new name)
    returning: dict[int, tuple[int, str]] = field(default_factory=dict)  # cpu -> its exec's
    threaded: set[int] = field(default_factory=set)  # address spaces a clone returned in

    def switched(self, cpu: int, pid: int, name: str) -> Thread:
        if name:
            self.names[pid] = name
        thread = Thread(pid, self.names.get(pid, name or f"pid{pid}"))
        self.current[cpu] = thread
        return thread

    def thread(self, cpu: int, cr3: int) -> Thread | None:
        """The running thread if known, without creating one."""
        if cpu in self.current:
            return self.current[cpu]
        return self.by_cr3.get(cr3 & ~CR3_FLAGS)

    def pid(self, cpu: int, cr3: int) -> int:
        thread = self.thread(cpu, cr3)
        return thread.pid if thread else 0

    def user_thread(self, cpu: int, cr3: int) -> tuple[Thread, bool]:
        """The thread crossing into or out of user mode; True if seen for the first time."""
        key = cr3 & ~CR3_FLAGS
        running = self.current.get(cpu)
        thread = running or self.by_cr3.get(key)
        if thread is None:
            pending = self._pending_exec(cpu)
        elif running is not None and key not in self.by_cr3:
            # A context-switch probe says who runs: a new address space is its exec's image.
            pending = self._exec_of(cpu, running.pid)
        else:
            pending = None
        if pending is not None:
            # execve gave the process a new address space: same pid, the new program's name.
            pid, name = pending
            thread = Thread(pid, name)
            self.by_cr3[key] = thread
            self.names[pid] = name
            if running is not None:
                self.current[cpu] = thread
            return thread, True
        if thread is None:
            pid = self.next_pid
            self.next_pid += 1
            index = pid - 1
            name = self.program_names[index] if index < len(self.program_names) else f"pid{pid}"
            thread = Thread(pid, name)
        self.by_cr3[key] = thread
        self.names.setdefault(thread.pid, thread.name)
        first = thread.pid not in self.started
        self.started.add(thread.pid)
        return thread, first

    def _pending_exec(self, cpu: int) -> tuple[int, str] | None:
        """The execve a new address space on `cpu` comes from: the one whose exit returned
        there, else this CPU's, else the oldest on another (Linux's sched_exec moves an
        exec'ing task to another CPU)."""
        if cpu in self.returning:
            return self.returning.pop(cpu)
        began = cpu if cpu in self.execs else next(iter(self.execs), None)
        return None if began is None else self.execs.pop(began)

    def _exec_of(self, cpu: int, pid: int) -> tuple[int, str] | None:
        """`pid`'s own pending execve, if it made one."""
        if cpu in self.returning and self.returning[cpu][0] == pid:
            return self.returning.pop(cpu)
        return self._take_exec(pid)

    def _take_exec(self, pid: int) -> tuple[int, str] | None:
        """`pid`'s execve among those begun, whichever CPU it began on, taken out."""
        began = next((c for c, (p, _) in self.execs.items() if p == pid), None)
        return None if began is None else self.execs.pop(began)

    def exec_returned(self, cpu: int, pid: int) -> None:
        """This pid's execve returns on `cpu` (its exit carries the frame, so which exec is
        known): the next new address space there is its, whichever CPU the exec began on."""
        pending = self._take_exec(pid)
        if pending is not None:
            self.returning[cpu] = pending

    def exec_started(self, cpu: int, pid: int, path: bytes | None) -> None:
        """An execve on this CPU: if it succeeds, the next new address space is this pid's."""
        if path:
            self.execs[cpu] = (pid, path.rsplit(b"/", 1)[-1].decode(errors="replace")[:15])

    def exec_failed(self, pid: int) -> None:
        """The execve returned an error: no new address space is this pid's (the task may
        have moved to another CPU meanwhile, so it is found by pid)."""
        self.execs = {cpu: pending for cpu, pending in self.execs.items() if pending[0] != pid}

    def cloned(self, cr3: int) -> None:
        """A clone returned a child in this address space: it may have several threads now."""
        self.threaded.add(cr3 & ~CR3_FLAGS)

    def is_threaded(self, cr3: int) -> bool:
        return cr3 & ~CR3_FLAGS in self.threaded

    def exited(self, cpu: int, cr3: int) -> None:
        self.by_cr3.pop(cr3 & ~CR3_FLAGS, None)
        self.threaded.discard(cr3 & ~CR3_FLAGS)

    def name(self, pid: int) -> str:
        return self.names.get(pid, "kernel" if pid == 0 else f"pid{pid}")
