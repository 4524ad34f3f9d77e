"""The tracer's hot path, loaded into gdb with `source`.

Each probe is a gdb breakpoint whose `stop()` reads what its kind needs (registers, pt_regs, user
buffers), appends one record to a batch and returns False, so the guest never waits on the tracer.
Batches go to the tracer as JSON lines on a pipe inherited from it (fd in TRACER_AGENT_FD), written
when large or every 50 ms by a flusher thread that never calls gdb. A probe returns True (a real
stop, seen over MI) only when the tracer asked for it: the LSTAR write when the entry is not yet
known, or the first syscall when MSRs are to be read.

Runs in gdb's own Python: stdlib and `gdb` only, plus `tracer.decode` (pure) for argument reads.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import gdb  # type: ignore[import-not-found]

MASK64 = (1 << 64) - 1
PAGE = 4096
BATCH_RECORDS = 256
FLUSH_SECONDS = 0.05

AGENT = None


def _u64(value) -> int:
    return int(value) & MASK64


class Batch:
    """Records waiting to go to the tracer; shared with the flusher thread under a lock."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()
        self.records: list[str] = []
        self.written = 0
        self.closed = False

    def add(self, record: dict) -> None:
        line = json.dumps(record, separators=(",", ":"))
        with self.lock:
            self.records.append(line)
            full = len(self.records) >= BATCH_RECORDS
        if full:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            if not self.records or self.closed:
                return
            data = ("\n".join(self.records) + "\n").encode()
            self.records = []
            self.written += data.count(b"\n")
            view = memoryview(data)
            while view:
                try:
                    sent = os.write(self.fd, view)
                except OSError:
                    self.closed = True
                    return
                view = view[sent:]

    def run_flusher(self) -> None:
        while not self.closed:
            time.sleep(FLUSH_SECONDS)
            self.flush()


class Cpu:
    """Register and memory access for the thread (vCPU) that hit a probe."""

    inferior = None

    def __init__(self) -> None:
        self.frame = gdb.selected_frame()
        self.cache: dict[str, int] = {}  # registers read at this stop
        self.thread = gdb.selected_thread().num  # QEMU's vCPU n is gdb thread n + 1
        if Cpu.inferior is None:
            Cpu.inferior = gdb.selected_inferior()

    def reg(self, name: str) -> int:
        value = self.cache.get(name)
        if value is None:
            value = self.cache[name] = int(self.frame.read_register(name)) & MASK64
        return value

    def regs(self, names) -> dict:
        return {name: self.reg(name) for name in names}

    def read(self, addr: int, length: int) -> bytes | None:
        if length <= 0:
            return b""
        try:
            return bytes(self.inferior.read_memory(addr, length))
        except (gdb.MemoryError, gdb.error, OverflowError, ValueError):
            return None

    def read_cstr(self, addr: int, cap: int) -> bytes | None:
        """Read a NUL-terminated string page by page, so a string near a hole still reads."""
        out = b""
        while len(out) < cap:
            chunk_len = min(cap - len(out), PAGE - ((addr + len(out)) % PAGE))
            chunk = self.read(addr + len(out), chunk_len)
            if chunk is None:
                return out if out else None
            nul = chunk.find(b"\0")
            if nul >= 0:
                return out + chunk[:nul]
            out += chunk
        return out


class Agent:
    def __init__(self, plan: dict) -> None:
        self.plan = plan
        self.batch = Batch(int(os.environ["TRACER_AGENT_FD"]))
        self.bases = plan.get("base_registers", ["fs_base", "gs_base", "k_gs_base"])
        self.ptregs_size = int(plan.get("ptregs_size", 168))
        self.ptregs_fields = {name: off for name, off, _size in plan.get("ptregs_layout", [])}
        self.inflight: dict[int, dict] = {}  # cr3 -> syscall in flight (for sysretq)
        self.frames: dict[int, dict] = {}  # pt_regs address -> syscall/interrupt in flight
        self.ip_offset = self.ptregs_fields.get("ip", 128)
        self.tls_span = int(plan.get("tls_span", 0))
        self.ring = plan.get("ring")
        self.ring_armed = False
        self.drain_ns = 0
        self.drain_bytes = 0
        self.stop_first_syscall = bool(plan.get("stop_first_syscall", False))
        self.stop_on_lstar = bool(plan.get("stop_on_lstar", False))
        self.breakpoints: list[gdb.Breakpoint] = []
        self.seq = 0
        self.skip_addr: int | None = None
        self.last_hit: tuple[int, int] | None = None
        self.last_state: dict | None = None
        self.duplicates = 0
        self.handler_ns = 0
        self.handled = 0
        self.decode = _load_decoder()
        thread = threading.Thread(target=self.batch.run_flusher, name="agent-flush", daemon=True)
        thread.start()

    def emit(self, probe: str, pc: int, cpu: Cpu, **fields) -> dict:
        self.seq += 1
        record = {
            "seq": self.seq,
            "t": time.monotonic_ns(),
            "probe": probe,
            "pc": pc,
            "cpu": cpu.thread - 1,
            "cr3": cpu.reg("cr3"),
            "bases": [cpu.reg(name) for name in self.bases],
        }
        record.update(fields)
        self.batch.add(record)
        return record

    def arm(self, probes: list) -> None:
        for probe in probes:
            self.breakpoints.append(Probe(self, probe))

    def disarm(self) -> None:
        for bp in self.breakpoints:
            if bp.is_valid():
                bp.delete()
        self.breakpoints = []

    def field(self, data: bytes | None, name: str) -> int | None:
        off = self.ptregs_fields.get(name)
        if data is None or off is None or off + 8 > len(data):
            return None
        return int.from_bytes(data[off : off + 8], "little")

    def user_memory(self, cpu: Cpu, reads) -> list:
        out = []
        for read in reads:
            if read.kind == "cstr":
                data = cpu.read_cstr(read.addr, read.length)
            else:
                data = cpu.read(read.addr, read.length)
            out.append([read.arg_index, None if data is None else data.hex()])
        return out

    def follow_memory(self, cpu: Cpu, nr: int, args: list, ret, memory: list) -> list:
        """One more round for reads that depend on what was read (the buffers of an iovec)."""
        follow = getattr(self.decode, "follow_reads", None)
        if follow is None or not memory:
            return memory
        known = {index: bytes.fromhex(data) for index, data in memory if data is not None}
        return memory + self.user_memory(cpu, follow(nr, args, ret, known))

    # --- probe kinds -------------------------------------------------------------------------

    def drain_ring(self, cpu: Cpu) -> None:
        """Read the guest's unread function-graph records in bulk and mark them read."""
        ring = self.ring
        if ring is None or not self.ring_armed:
            return
        started = time.perf_counter_ns()
        try:
            self._drain_ring(cpu, ring)
        finally:
            self.drain_ns += time.perf_counter_ns() - started

    def _drain_ring(self, cpu: Cpu, ring: dict) -> None:
        fields = ring["ring_fields"]
        header = cpu.read(ring["rings"], max(o + n for o, n in fields.values()))
        if header is None:
            return
        value = {k: int.from_bytes(header[o : o + n], "little") for k, (o, n) in fields.items()}
        head, tail, size = value["head"], value["tail"], value["size"]
        if head <= tail or not size:
            return
        tail = max(tail, head - size)
        esz = ring["entry_size"]
        chunks = []
        pos = tail
        while pos < head:
            index = pos & (size - 1)
            count = min(head - pos, size - index)
            data = cpu.read(value["entries"] + index * esz, count * esz)
            if data is None:
                break
            chunks.append(data)
            self.drain_bytes += len(data)
            pos += count
        try:
            offset = fields["tail"][0]
            cpu.inferior.write_memory(ring["rings"] + offset, pos.to_bytes(8, "little"))
        except (gdb.MemoryError, gdb.error):
            pass
        self.emit(
            "ftrace_drain",
            cpu.reg("rip"),
            cpu,
            data=b"".join(chunks).hex(),
            overruns=value["overruns"],
            records=pos - tail,
        )

    def on_ftrace_full(self, probe: dict, cpu: Cpu) -> bool:
        self.drain_ring(cpu)
        return False

    def on_syscall_entry(self, probe: dict, cpu: Cpu) -> bool:
        self.drain_ring(cpu)
        pc = cpu.reg("rip")
        regs_addr = cpu.reg(probe.get("regs_pointer", "rdi"))
        data = cpu.read(regs_addr, self.ptregs_size)
        nr = self.field(data, "orig_ax")
        args = [self.field(data, n) or 0 for n in ("di", "si", "dx", "r10", "r8", "r9")]
        memory = []
        if nr is not None and self.decode is not None:
            memory = self.user_memory(cpu, self.decode.entry_reads(nr, args))
            memory = self.follow_memory(cpu, nr, args, None, memory)
        record = self.emit(
            "syscall_entry",
            pc,
            cpu,
            regs_addr=regs_addr,
            ptregs=None if data is None else data.hex(),
            cpu_regs={} if data is not None else cpu.regs(("rax", "rcx", "r11", "rsp")),
            memory=memory,
        )
        entry = {
            "kind": "syscall",
            "regs_addr": regs_addr,
            "nr": nr,
            "args": args,
            "cr3": record["cr3"],
        }
        if nr is None or nr & 0xFFFFFFFF not in NO_RETURN:
            self.inflight[record["cr3"]] = entry
            self.frames[regs_addr] = entry
        else:  # exit/exit_group never return; the address space may be reused at once
            self.inflight.pop(record["cr3"], None)
        if self.stop_first_syscall:
            self.stop_first_syscall = False
            return True
        return False

    def on_interrupt_entry(self, probe: dict, cpu: Cpu) -> bool:
        """At the call from an interrupt/exception stub to its C handler: pt_regs complete."""
        pc = cpu.reg("rip")
        regs_addr = cpu.reg(probe.get("regs_pointer", "rdi"))
        data = cpu.read(regs_addr, self.ptregs_size)
        vector = probe.get("vector")
        if vector is None:
            # Device interrupts: the vector is the handler's second argument (Linux's
            # common_interrupt(regs, vector)); stubs may already have reset orig_ax to -1.
            vector = cpu.reg("rsi") & 0xFF
        cr2 = cpu.reg("cr2") if vector == 14 else None
        self.emit(
            "interrupt_entry",
            pc,
            cpu,
            regs_addr=regs_addr,
            ptregs=None if data is None else data.hex(),
            vector=vector,
            has_error_code=bool(probe.get("has_error_code")),
            cr2=cr2,
            stub=probe.get("stub", ""),
        )
        self.frames[regs_addr] = {"kind": "interrupt", "vector": vector, "regs_addr": regs_addr}
        return False

    def on_syscall_exit(self, probe: dict, cpu: Cpu) -> bool:
        """At sysretq (keyed by address space) or iretq (keyed by the frame on the stack)."""
        self.drain_ring(cpu)
        pc = cpu.reg("rip")
        values = cpu.regs(("rax", "rcx", "r11", "rsp", "cr3"))
        kind = probe.get("exit_kind", "sysretq")
        frame = None
        if kind == "iretq":
            raw = cpu.read(values["rsp"], 40)
            if raw is not None:
                frame = [int.from_bytes(raw[i : i + 8], "little") for i in range(0, 40, 8)]
            entry = self.frames.pop((values["rsp"] - self.ip_offset) & MASK64, None)
            if entry is not None and entry["kind"] == "syscall":
                self.inflight.pop(entry["cr3"], None)
        else:
            entry = self.inflight.pop(values["cr3"], None)
            if entry is not None:
                self.frames.pop(entry["regs_addr"], None)
        if entry is None:
            # First entry to user mode, or a frame the tracer did not see built.
            self.emit("return_to_user", pc, cpu, exit_kind=kind, iret_frame=frame)
            return False
        if entry["kind"] == "interrupt":
            self.emit(
                "interrupt_exit",
                pc,
                cpu,
                exit_kind=kind,
                iret_frame=frame,
                vector=entry["vector"],
                regs_addr=entry["regs_addr"],
            )
            return False
        memory = []
        data = cpu.read(entry["regs_addr"], self.ptregs_size)
        ret = self.field(data, "ax")
        if ret is None:
            ret = values["rax"]
        if entry["nr"] is not None and self.decode is not None:
            reads = self.decode.exit_reads(entry["nr"], entry["args"], ret)
            memory = self.user_memory(cpu, reads)
            memory = self.follow_memory(cpu, entry["nr"], entry["args"], ret, memory)
        self.emit(
            "syscall_exit",
            pc,
            cpu,
            exit_kind=kind,
            regs_addr=entry["regs_addr"],
            ptregs=None if data is None else data.hex(),
            cpu_regs=values,
            iret_frame=frame,
            memory=memory,
        )
        return False

    def callers(self, depth: int = 4) -> list:
        """Return addresses up the stack (gdb's unwinder, DWARF CFI), for attribution."""
        out = []
        try:
            frame = gdb.selected_frame().older()
            while frame is not None and len(out) < depth:
                out.append(frame.pc())
                frame = frame.older()
        except gdb.error:
            pass
        return out

    def stack_words(self, cpu: Cpu, size: int = 1024) -> str | None:
        """The top of the stack, where return addresses into asm stubs (no CFI) can be found."""
        rsp = cpu.reg("rsp")
        data = cpu.read(rsp, size)
        if data is None and rsp % PAGE:  # the stack may end at a page with a hole above it
            data = cpu.read(rsp, PAGE - rsp % PAGE)
        return None if data is None else data.hex()

    def tls_block(self, cpu: Cpu, base: int) -> str | None:
        """The bytes below a TCB (where local-exec TLS lives) and its first word."""
        size = self.tls_span
        if not size or not base:
            return None
        data = cpu.read((base - size) & MASK64, size + 8)
        return None if data is None else data.hex()

    def on_wrmsr(self, probe: dict, cpu: Cpu) -> bool:
        pc = cpu.reg("rip")
        values = cpu.regs(("rcx", "rax", "rdx"))
        msr = values["rcx"] & 0xFFFFFFFF
        value = ((values["rdx"] & 0xFFFFFFFF) << 32) | (values["rax"] & 0xFFFFFFFF)
        extra = {}
        if msr in BASE_MSRS:
            extra["callers"] = self.callers()
            extra["stack"] = self.stack_words(cpu)
            if msr == MSR_FS_BASE:
                extra["tls_block"] = self.tls_block(cpu, value)
        self.emit("wrmsr", pc, cpu, msr=msr, value=value, **extra)
        return self.stop_on_lstar and msr == 0xC0000082

    def on_switch(self, probe: dict, cpu: Cpu) -> bool:
        """Entry of the context-switch routine: prev and next tasks in rdi/rsi (Linux ABI)."""
        self.drain_ring(cpu)  # what the previous task recorded, before the switch
        prev, nxt = cpu.reg(probe.get("prev", "rdi")), cpu.reg(probe.get("next", "rsi"))
        start, length = probe.get("task_span", (0, 0))
        tasks = []
        for task in (prev, nxt):
            data = cpu.read(task + start, length) if length else None
            tasks.append(None if data is None else data.hex())
        self.emit("context_switch", cpu.reg("rip"), cpu, prev=prev, next=nxt, tasks=tasks)
        return False

    def on_func_entry(self, probe: dict, cpu: Cpu) -> bool:
        self.emit(
            "func_entry",
            cpu.reg("rip"),
            cpu,
            func=probe["func"],
            rsp=cpu.reg("rsp"),
            notrace=bool(probe.get("notrace")),
        )
        return False

    def on_func_exit(self, probe: dict, cpu: Cpu) -> bool:
        self.emit(
            "func_exit",
            cpu.reg("rip"),
            cpu,
            func=probe["func"],
            rax=cpu.reg("rax"),
            rsp=cpu.reg("rsp"),
            how=probe.get("how", "ret"),
        )
        return False

    def on_swapgs(self, probe: dict, cpu: Cpu) -> bool:
        self.emit("swapgs", cpu.reg("rip"), cpu)
        return False

    def on_wrbase(self, probe: dict, cpu: Cpu) -> bool:
        source = probe.get("source")
        value = cpu.reg(source) if source else None
        extra = {"callers": self.callers(), "stack": self.stack_words(cpu)}
        if probe["kind"] == "wrfsbase" and value:
            extra["tls_block"] = self.tls_block(cpu, value)
        self.emit(probe["kind"], cpu.reg("rip"), cpu, value=value, **extra)
        return False

    def on_generic(self, probe: dict, cpu: Cpu) -> bool:
        self.emit(probe["kind"], cpu.reg("rip"), cpu, cpu_regs=cpu.regs(probe.get("regs", ())))
        return False


NO_RETURN = {60, 231}  # exit, exit_group
MSR_FS_BASE = 0xC0000100
BASE_MSRS = {0xC0000100, 0xC0000101, 0xC0000102}
DUPLICATE_CHECK = ("rsp", "rax", "rcx", "rdx", "rdi", "rsi", "r11", "r8")  # not eflags: RF moves

HANDLERS = {
    "syscall_entry": Agent.on_syscall_entry,
    "syscall_exit": Agent.on_syscall_exit,
    "interrupt_entry": Agent.on_interrupt_entry,
    "context_switch": Agent.on_switch,
    "func_entry": Agent.on_func_entry,
    "ftrace_full": Agent.on_ftrace_full,
    "func_exit": Agent.on_func_exit,
    "wrmsr": Agent.on_wrmsr,
    "swapgs": Agent.on_swapgs,
    "wrfsbase": Agent.on_wrbase,
    "wrgsbase": Agent.on_wrbase,
}


class Probe(gdb.Breakpoint):
    def __init__(self, agent: Agent, probe: dict) -> None:
        super().__init__(f"*{int(probe['addr']):#x}", internal=True)
        self.agent = agent
        self.probe = probe
        self.handler = HANDLERS.get(probe["kind"], Agent.on_generic)

    def stop(self) -> bool:
        agent = self.agent
        if agent.skip_addr == self.probe["addr"]:
            agent.skip_addr = None
            return False
        cpu = Cpu()
        where = (cpu.thread, self.probe["addr"])
        # gdb's step over a breakpoint is now and then reported as a second hit at the same
        # place with nothing changed (seen under TCG with a timer interrupt pending); a real
        # second pass through the same place differs in some register.
        state = cpu.regs(DUPLICATE_CHECK)
        if where == agent.last_hit and state == agent.last_state:
            agent.duplicates += 1
            return False
        agent.last_state = state
        agent.last_hit = where
        started = time.perf_counter_ns()
        try:
            return bool(self.handler(self.agent, self.probe, cpu))
        except Exception as exc:  # a probe must never stop the guest by accident
            self.agent.batch.add(
                {
                    "probe": "agent_error",
                    "kind": self.probe["kind"],
                    "error": f"{type(exc).__name__}: {exc}",
                }
            )
            return False
        finally:
            agent.handler_ns += time.perf_counter_ns() - started
            agent.handled += 1


def _load_decoder():
    root = os.environ.get("TRACER_PACKAGE_ROOT")
    if root and root not in sys.path:
        sys.path.append(root)
    try:
        from tracer.decode import strace  # noqa: PLC0415 - only once the path is known
    except Exception:
        return None
    return strace


def install(plan_json: str) -> None:
    global AGENT
    if AGENT is not None:
        AGENT.disarm()
    AGENT = Agent(json.loads(plan_json))
    AGENT.arm(AGENT.plan.get("probes", []))
    gdb.write(f"agent armed {len(AGENT.breakpoints)} probes\n")


def install_file(path: str) -> None:
    with open(path) as f:
        install(f.read())


def arm_file(path: str) -> None:
    with open(path) as f:
        arm(f.read())


def arm(probes_json: str) -> None:
    AGENT.arm(json.loads(probes_json))
    gdb.write(f"agent armed {len(AGENT.breakpoints)} probes\n")


def flush() -> None:
    if AGENT is not None:
        AGENT.batch.flush()
        gdb.write(f"agent flushed {AGENT.batch.written}\n")


def set_stop_first_syscall(value: bool) -> None:
    AGENT.stop_first_syscall = bool(value)


def set_stop_on_lstar(value: bool) -> None:
    AGENT.stop_on_lstar = bool(value)


def skip_next(addr: int) -> None:
    """Let the next hit at addr pass unrecorded (after the tracer moved RIP back onto it)."""
    AGENT.skip_addr = int(addr)


def stats() -> None:
    """One line for the tracer: probes handled, time spent in them, duplicates skipped."""
    a = AGENT
    gdb.write(
        f"agent-stats handled={a.handled} handler_ns={a.handler_ns} "
        f"duplicates={a.duplicates} written={a.batch.written} "
        f"drain_ns={a.drain_ns} drain_bytes={a.drain_bytes}\n"
    )


def bench_read(addr: int, size: int, reps: int) -> None:
    """Bare gdb read_memory bandwidth at this stop, for comparison with the drain."""
    inferior = gdb.selected_inferior()
    started = time.perf_counter_ns()
    for _ in range(reps):
        inferior.read_memory(addr, size)
    ns = time.perf_counter_ns() - started
    gdb.write(f"bench-read bytes={size * reps} ns={ns}\n")


def set_ring_armed(value: bool) -> None:
    AGENT.ring_armed = bool(value)


def drain_now() -> None:
    """Drain the function-graph rings at a real stop (the tracer calls this before the end)."""
    AGENT.drain_ring(Cpu())
    AGENT.batch.flush()
