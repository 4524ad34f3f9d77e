"""Reads qemu/profiles.json and builds QEMU command lines (for qemu/boot and qemu/gdb-attach)."""

from __future__ import annotations

import json
import mmap
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

QEMU_DIR = Path(__file__).resolve().parent
REPO_ROOT = QEMU_DIR.parent
PROFILES_FILE = QEMU_DIR / "profiles.json"

# Guest power-off codes (isa-debug-exit value), as the kernel writes them.
EXIT_ALL_OK = 0
EXIT_PROCESS_FAILED = 1
EXIT_PANIC = 2
EXIT_BAD_PROGRAM = 3
# The guest writes one JSON line per program exit here (guest/include/console.h).
EXIT_STATUS_PORT = 0x4F4


def load() -> dict:
    with open(PROFILES_FILE) as f:
        return json.load(f)


def profile_names() -> list[str]:
    return sorted(load()["profiles"])


def initrd_spec(programs: list[list[str]]) -> str:
    """QEMU -initrd: modules separated by commas (a literal comma is ",,"), each 'path args'."""
    specs = []
    for words in programs:
        for w in words:
            if not w or any(c.isspace() for c in w):
                raise ValueError(f"guest arguments cannot be empty or contain spaces: {w!r}")
        specs.append(" ".join(words).replace(",", ",,"))
    return ",".join(specs)


def qemu_argv(
    profile: str,
    programs: list[list[str]],
    cmdline: str = "",
    serial: str = "stdio",
    debugcon: str | None = None,
    status_log: str | None = None,
    gdb_socket: str | None = None,
    halted: bool = False,
    smp: int = 1,
) -> list[str]:
    conf = load()
    try:
        p = conf["profiles"][profile]
    except KeyError:
        known = ", ".join(profile_names())
        raise ValueError(f"unknown profile {profile!r}; known: {known}") from None
    argv = [conf["qemu"], *conf["common_args"]]
    argv += ["-machine", p["machine"], "-accel", p["accel"], "-cpu", p["cpu"]]
    argv += ["-m", f"{p['memory_mb']}M"]
    if smp != 1:
        argv += ["-smp", str(smp)]
    if p.get("icount"):
        argv += ["-icount", p["icount"]]
    argv += list(p.get("extra_args", []))
    argv += ["-device", conf["debug_exit"]["device"]]
    argv += ["-kernel", str(REPO_ROOT / conf["boot_image"])]
    if cmdline:
        argv += ["-append", cmdline]
    if programs:
        argv += ["-initrd", initrd_spec(programs)]
    argv += ["-serial", serial]
    if debugcon:
        argv += ["-debugcon", f"file:{debugcon}"]
    if status_log:
        argv += status_log_args(status_log)
    if gdb_socket:
        argv += ["-chardev", f"socket,path={gdb_socket},server=on,wait=off,id=gdb0"]
        argv += ["-gdb", "chardev:gdb0"]
    if halted:
        argv += ["-S"]
    return argv


def status_log_args(status_log: str) -> list[str]:
    """QEMU arguments that write the guest's exit-status port to the file status_log."""
    return [
        "-chardev",
        f"file,id=exitstatus,path={status_log}",
        "-device",
        f"isa-debugcon,iobase={EXIT_STATUS_PORT:#x},chardev=exitstatus",
    ]


def guest_code(qemu_status: int) -> int | None:
    """The value the guest wrote to isa-debug-exit, or None if QEMU ended another way."""
    if qemu_status > 0 and qemu_status % 2 == 1:
        return qemu_status >> 1
    return None


def program_statuses(status_log: str) -> list[int]:
    """Each program's exit status in program order (pid order), from the exit-status port."""
    exits: dict[int, int] = {}
    try:
        text = Path(status_log).read_text(errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a panic or a kill
        if record.get("ev") == "program_exit":
            exits[int(record["pid"])] = int(record["status"])
    return [exits[pid] for pid in sorted(exits)]


def ensure_built(build: bool = True) -> None:
    """Run make for the kernel when it is out of date; fail if there is still no image."""
    guest = REPO_ROOT / "guest"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if build and subprocess.run(["make", "-C", str(guest), "-q", "kernel"], **quiet).returncode:
        subprocess.run(
            ["make", "-C", str(guest), "-s", "kernel"], check=True, stdout=subprocess.DEVNULL
        )
    image = REPO_ROOT / load()["boot_image"]
    if not image.exists():
        raise FileNotFoundError(f"{image} is missing: run make -C guest")


# The ground-truth log in guest RAM (gtlog=mem; guest/include/gtlog.h): the kernel writes its
# lines into `gtlog_mem`, QEMU keeps the guest's RAM in a shared file, the host reads them from
# it after the guest ended. The debug port (~3 us a byte under TCG) takes only what overflows.
GTLOG_MEM_SYMBOL = "gtlog_mem"
GTLOG_MEM_MAGIC = b"GTLOGMEM"
GTLOG_MEM_HEADER = struct.Struct("<8sQQQ")  # magic, size, len, spilled


def ram_file_args(ram_file: str | os.PathLike[str], memory_mb: int) -> list[str]:
    """QEMU arguments that keep the guest's RAM in ram_file (shared: the file sees every
    write, even when QEMU is killed)."""
    path = str(ram_file).replace(",", ",,")
    backend = f"memory-backend-file,id=guest-ram,size={memory_mb}M,mem-path={path},share=on"
    return ["-object", backend, "-machine", "memory-backend=guest-ram"]


def ram_file_dir(memory_mb: int) -> str | None:
    """Where a RAM file costs no disk writes: /dev/shm when it has room, else the temp dir."""
    try:
        if shutil.disk_usage("/dev/shm").free > 2 * memory_mb << 20:
            return "/dev/shm"
    except OSError:
        pass
    return None


def new_ram_file(memory_mb: int) -> str:
    """A RAM file by name (the caller removes it; `open_ram_fd` leaves nothing behind)."""
    fd, path = tempfile.mkstemp(prefix="guest-ram-", dir=ram_file_dir(memory_mb))
    os.close(fd)
    return path


def open_ram_fd(memory_mb: int) -> int:
    """An unlinked RAM file, open: QEMU maps it as /proc/self/fd/N when it inherits fd N."""
    fd, path = tempfile.mkstemp(prefix="guest-ram-", dir=ram_file_dir(memory_mb))
    os.unlink(path)
    return fd


def gtlog_mem_offset(kernel_elf: str | os.PathLike[str]) -> int:
    """Where `gtlog_mem` is in the RAM file: its physical address, from the kernel's symbol
    and the load segment that holds it (pyelftools)."""
    from elftools.elf.elffile import ELFFile  # noqa: PLC0415 - only with gtlog=mem

    with open(kernel_elf, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        found = symtab.get_symbol_by_name(GTLOG_MEM_SYMBOL) if symtab else None
        if not found:
            raise ValueError(f"{kernel_elf}: no symbol {GTLOG_MEM_SYMBOL}")
        vaddr = found[0]["st_value"]
        for seg in elf.iter_segments():
            start = seg["p_vaddr"]
            if seg["p_type"] == "PT_LOAD" and start <= vaddr < start + seg["p_memsz"]:
                return seg["p_paddr"] + vaddr - start
    raise ValueError(f"{kernel_elf}: {GTLOG_MEM_SYMBOL} is in no load segment")


def read_gtlog(
    ram: str | os.PathLike[str] | int,
    spill: str | os.PathLike[str] | None,
    kernel_elf: str | os.PathLike[str] | None = None,
) -> bytes:
    """The whole log of a gtlog=mem boot: the RAM buffer's lines (`ram`: the file, or a
    descriptor open on it), then the port's (empty when the kernel never set the buffer up)."""
    kernel_elf = kernel_elf or REPO_ROOT / load()["kernel_elf"]
    offset = gtlog_mem_offset(kernel_elf)
    text = b""
    with open(ram, "rb", closefd=not isinstance(ram, int)) as f:
        size = os.fstat(f.fileno()).st_size
        if size >= offset + GTLOG_MEM_HEADER.size:
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                magic, room, used, _ = GTLOG_MEM_HEADER.unpack_from(mapped, offset)
                if magic == GTLOG_MEM_MAGIC and used <= room:
                    start = offset + GTLOG_MEM_HEADER.size
                    text = mapped[start : start + used]
    if spill is not None and os.path.exists(spill):
        text += Path(spill).read_bytes()
    return text
