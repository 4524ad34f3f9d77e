"""Symbols for a bare vmlinuz: one boot whose /init copies /proc/kallsyms to QEMU's debug
console (or the serial console), kept by the kernel image's SHA-256 so later captures skip it.
The boot uses `nokaslr`, so the dump holds link-time addresses; a capture slides them like a
System.map's."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .initramfs import build_init, write_initramfs
from .packages import cache_root

BEGIN = "tracer-kallsyms-begin"
END = "tracer-kallsyms-end"


class KallsymsBootError(Exception):
    """The kallsyms boot did not produce a dump; one line saying what the console showed."""


def kallsyms_from_console(console: str) -> str:
    """The dump between the init's two marker lines (the console's \\r removed)."""
    text = console.replace("\r", "")
    start = text.find(BEGIN + "\n")
    end = text.find("\n" + END, start)
    if start < 0 or end < 0:
        tail = " | ".join(text.strip().splitlines()[-3:]) or "(nothing)"
        raise KallsymsBootError(f"no complete kallsyms dump on the console; it ended: {tail}")
    return text[start + len(BEGIN) + 1 : end + 1]


def image_digest(kernel: Path) -> str:
    digest = hashlib.sha256()
    with open(kernel, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def kallsyms_cache_path(kernel: Path, root: Path | None = None) -> Path:
    return (root or cache_root()) / "kallsyms" / f"{image_digest(kernel)}.txt"


def save_dump(dump: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=".kallsyms-")
    with os.fdopen(fd, "w") as out:
        out.write(dump)
    os.replace(partial, path)
    return path


def kallsyms_for(
    kernel: Path,
    *,
    root: Path | None = None,
    progress: Callable[[str], None] | None = None,
    cpu: str = "max",
) -> Path:
    """The cached dump for this kernel image, or one made now by a boot (about 20-40 s under
    TCG, said through `progress`)."""
    path = kallsyms_cache_path(kernel, root)
    if path.exists():
        return path
    if progress is not None:
        progress(f"booting {kernel.name} once to read its /proc/kallsyms (kept in {path.parent})")
    debugcon, console = _boot_and_dump(kernel, cpu)
    found = debugcon if BEGIN in debugcon else console
    return save_dump(kallsyms_from_console(found), path)


def _boot_and_dump(kernel: Path, cpu: str) -> tuple[str, str]:
    """What the debug console and the serial console received."""
    # Imported here: the pure helpers above are usable without the target layer.
    from tracer.target.gdb import Gdb
    from tracer.target.qemu import Module, QemuConfig, QemuMachine

    init = build_init()
    with tempfile.TemporaryDirectory(prefix="tracer-kallsyms-") as scratch:
        initrd = write_initramfs(Path(scratch) / "initrd.cpio", [], init=init, kallsyms=True)
        config = QemuConfig(
            boot_image=kernel, modules=(Module(initrd),), memory_mb=512, cpu=cpu,
            cmdline="console=ttyS0 panic=-1 nokaslr", debug_exit=False,
        )  # fmt: skip
        # QEMU starts halted for gdb; gdb (given /init for its x86-64 architecture) lets it go.
        gdb = Gdb(init)
        with QemuMachine(config) as qemu:
            try:
                gdb.start()
                gdb.connect(qemu.files.gdb_socket)
                gdb.cont()
                if qemu.wait(timeout=600) is None:
                    raise KallsymsBootError("the kallsyms boot did not power off in 600 s")
            finally:
                gdb.close()
                console = qemu.serial_output()
                debugcon = qemu.files.debugcon_log.read_text(errors="replace")
    return debugcon, console
