"""By hand, end to end: boot Debian's kernel under QEMU (TCG) with the tracer's initramfs and
gdb on a private unix socket, learn the KASLR slide from /init's first `syscall` (stepped
into, RIP is then LSTAR), break at the slid `entry_SYSCALL_64` and `do_syscall_64`, and list
each syscall with the process that made it (pid and comm through `current_task`).

    python -m tracer.linux.proof [--boot pvh|bzimage] [--symbols vmlinux|map] [--cpu MODEL]
                                 [--program P] [--cmdline WORDS]
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tracer.decode.syscall_table import syscall_name
from tracer.image import ElfImage
from tracer.image.symbol_map import KernelSymbols
from tracer.target.errors import TargetError
from tracer.target.gdb import Gdb
from tracer.target.msr import MsrReadError, read_msrs
from tracer.target.qemu import Module, QemuConfig
from tracer.target.session import TargetSession

from .first_syscall import Breakpoints, enter_first_syscall, read_u64, run_to_stop
from .initramfs import Program, build_init, write_initramfs
from .kaslr import Slide, image_range, slide_from_lstar
from .kernel import open_linux_kernel
from .layout import LinuxLayout
from .packages import PackageUnavailable, fetch_kernel

LSTAR = 0xC0000082
EXIT_GROUP = 231
PAGE_TABLE_MASK = ~0x1FFF  # PCID (bits 0-11) and PTI's user page-table bit (12)
DEFAULT_PROGRAM = Path(__file__).resolve().parents[2] / "guest/build/user/hello-glibc"


@dataclass(frozen=True)
class SyscallSeen:
    nr: int  # RAX at entry_SYSCALL_64
    pid: int | None  # from current_task at do_syscall_64
    comm: str | None
    regs_agree: bool  # pt_regs->orig_ax and do_syscall_64's nr argument equal RAX at entry
    cr3_entry: int  # at entry_SYSCALL_64: the user page tables when PTI is on
    cr3_kernel: int  # at do_syscall_64, after the entry's CR3 switch


@dataclass
class ProofResult:
    lstar: int = 0
    lstar_msr: int = 0
    slide: Slide | None = None
    boot_to_first_syscall: float = 0.0
    total: float = 0.0
    syscalls: list[SyscallSeen] = field(default_factory=list)
    repeated_stops: int = 0  # a breakpoint reported twice for one pass
    serial: str = ""


def _process(gdb: Gdb, layout: LinuxLayout) -> tuple[int | None, str | None]:
    """pid and comm of `current` (at do_syscall_64: GS is the kernel's, CR3 the kernel's)."""
    if layout.current_task is None or layout.task_pid is None or layout.task_comm is None:
        return None, None
    task = read_u64(gdb, gdb.read_register("gs_base") + layout.current_task)
    pid = struct.unpack("<i", gdb.read_memory(task + layout.task_pid, 4))[0]
    comm = gdb.read_memory(task + layout.task_comm, 16).split(b"\0")[0].decode(errors="replace")
    return pid, comm


def _record_syscalls(
    gdb: Gdb, entry: int, do_syscall: int, layout: LinuxLayout, first_nr: int, program: str
) -> tuple[list[SyscallSeen], int]:
    """Each syscall until `program` calls exit_group, and how many stops were repeats. Without
    comm (no DWARF), the first exit_group ends it: /init never exits."""
    orig_ax = layout.pt_regs.offset_of("orig_ax")
    seen: list[SyscallSeen] = []
    nr, cr3_entry, entered, repeats = first_nr, gdb.read_register("cr3"), True, 0
    while True:
        stop = run_to_stop(gdb, 60)
        if stop.pc == entry:
            nr, cr3_entry, entered = gdb.read_register("rax"), gdb.read_register("cr3"), True
            continue
        if stop.pc != do_syscall:
            raise TargetError(f"unexpected stop at {stop.pc} ({stop.reason})")
        if not entered:
            # gdb's step over a breakpoint is now and then reported as a second hit at the same
            # place (the agent skips these too): one entry, one do_syscall_64.
            repeats += 1
            continue
        entered = False
        regs = gdb.read_register("rdi")
        agree = read_u64(gdb, regs + orig_ax) == nr and gdb.read_register("rsi") & 0xFFFFFFFF == nr
        pid, comm = _process(gdb, layout)
        seen.append(SyscallSeen(nr, pid, comm, agree, cr3_entry, gdb.read_register("cr3")))
        if nr == EXIT_GROUP and (comm is None or program.startswith(comm)):
            return seen, repeats


def run_proof(
    boot_image: Path,
    symbols: KernelSymbols,
    layout: LinuxLayout,
    program: Path,
    *,
    cpu: str = "max",
    cmdline: str = "",
) -> ProofResult:
    result = ProofResult()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tracer-linux-") as scratch:
        init = build_init()
        initrd = write_initramfs(Path(scratch) / "initrd.cpio", [Program(program)], init=init)
        config = QemuConfig(
            boot_image=boot_image, modules=(Module(initrd),), memory_mb=512, cpu=cpu,
            cmdline=f"console=ttyS0 panic=-1 {cmdline}".strip(), debug_exit=False,
        )  # fmt: skip
        # gdb gets /init as its file: x86-64, small; the kernel's symbols come from `symbols`.
        session = TargetSession(init, config)
        with session:
            gdb, qemu = session.gdb, session.qemu
            try:
                result.lstar = enter_first_syscall(session, ElfImage.open(init), 300)
                result.boot_to_first_syscall = time.monotonic() - start
                first_nr = gdb.read_register("rax")
                result.lstar_msr = _read_lstar(gdb)
                entry = _address(symbols, "entry_SYSCALL_64")
                span = image_range([(s.addr, s.size) for s in symbols.symbols])
                result.slide = slide_from_lstar(result.lstar, entry, span)
                breakpoints = Breakpoints(gdb)
                do_syscall = result.slide.relocate(_address(symbols, "do_syscall_64"))
                breakpoints.insert(result.slide.relocate(entry))
                breakpoints.insert(do_syscall)
                result.syscalls, result.repeated_stops = _record_syscalls(
                    gdb, result.slide.relocate(entry), do_syscall, layout, first_nr, program.name
                )
                breakpoints.delete_all()
                gdb.cont()
                qemu.wait(timeout=60)
            finally:
                result.serial = session.finish().console
    result.total = time.monotonic() - start
    return result


def _read_lstar(gdb: Gdb, attempts: int = 3) -> int:
    """rdmsr injected at the stop; its single step is now and then reported with nothing done
    (as gdb's steps over breakpoints are), and read_msrs then says so: try again."""
    for attempt in range(attempts):
        try:
            return read_msrs(gdb, [LSTAR])[LSTAR]
        except MsrReadError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _address(symbols: KernelSymbols, name: str) -> int:
    addr = symbols.address_of(name)
    if addr is None:
        raise TargetError(f"{symbols.path}: no symbol {name}")
    return addr


def _report(result: ProofResult, program: str) -> None:
    print(f"LSTAR at /init's first syscall: {result.lstar:#x} (rdmsr: {result.lstar_msr:#x})")
    print(f"{result.slide}; boot to /init's first syscall {result.boot_to_first_syscall:.1f} s; "
          f"whole run {result.total:.1f} s; {result.repeated_stops} repeated stops")  # fmt: skip
    for line in result.serial.splitlines():
        if "isolation" in line or line.startswith("tracer-init") or "Hello" in line:
            print(f"  serial: {line.strip()}")
    for seen in result.syscalls:
        mark = "" if seen.regs_agree else "  (pt_regs DISAGREES)"
        print(f"  {seen.comm or '?':>16} pid {seen.pid}: {syscall_name(seen.nr):<16} "
              f"cr3 {seen.cr3_entry:#x} -> {seen.cr3_kernel:#x}{mark}")  # fmt: skip
    print(f"{program}: {' '.join(syscall_name(s.nr) for s in program_syscalls(result, program))}")


def program_syscalls(result: ProofResult, program: str) -> list[SyscallSeen]:
    """The program's syscalls: by comm, or without DWARF by the page tables of its exit_group
    (PTI's user bit and the PCID masked), after its execve."""
    if all(s.comm is not None for s in result.syscalls):
        return [s for s in result.syscalls if s.comm and program.startswith(s.comm)]
    last = result.syscalls[-1].cr3_kernel & PAGE_TABLE_MASK
    return [s for s in result.syscalls if s.cr3_kernel & PAGE_TABLE_MASK == last]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boot", choices=("pvh", "bzimage"), default="bzimage")
    parser.add_argument("--symbols", choices=("vmlinux", "map", "kallsyms"), default="map")
    parser.add_argument("--cpu", default="max")
    parser.add_argument("--program", type=Path, default=DEFAULT_PROGRAM)
    parser.add_argument("--cmdline", default="")
    args = parser.parse_args(argv)
    say = lambda s: print(f"... {s}", flush=True)  # noqa: E731
    try:
        files = fetch_kernel(debug=True, progress=say)
    except PackageUnavailable as exc:
        print(f"proof: {exc}", file=sys.stderr)
        return 2
    # The DWARF vmlinux boots as is (PVH); open_linux_kernel gives gdb its stripped copy.
    kernel_path = files.vmlinux if args.boot == "pvh" else files.vmlinuz
    symbols = {"vmlinux": files.vmlinux, "map": files.system_map, "kallsyms": None}[args.symbols]
    assert kernel_path is not None
    if args.boot == "pvh" and symbols is None:
        symbols = files.vmlinux_nodebug  # kallsyms boots are for a bzImage alone
    kernel = open_linux_kernel(kernel_path, symbols, progress=say)
    result = run_proof(kernel.boot_image, kernel.symbols, kernel.layout, args.program,
                       cpu=args.cpu, cmdline=args.cmdline)  # fmt: skip
    _report(result, args.program.name)
    return 0 if result.syscalls and all(s.regs_agree for s in result.syscalls) else 1


if __name__ == "__main__":
    raise SystemExit(main())
