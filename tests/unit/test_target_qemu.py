"""QEMU's command line and lifecycle rules, without starting QEMU."""

from __future__ import annotations

import stat
from pathlib import Path

from tracer.target.qemu import (
    Module,
    QemuConfig,
    QemuFiles,
    QemuMachine,
    build_argv,
    guest_exit_status,
)


def test_gdbstub_is_a_unix_socket_never_tcp(tmp_path: Path) -> None:
    config = QemuConfig(boot_image=tmp_path / "k.bin", modules=(Module(Path("/p/a"), ("x",)),))
    argv = build_argv(config, QemuFiles(tmp_path))
    assert "-s" not in argv
    joined = " ".join(argv)
    assert "tcp" not in joined
    assert f"socket,id=gdb0,path={tmp_path / 'gdb.sock'},server=on,wait=off" in argv
    assert argv[argv.index("-gdb") + 1] == "chardev:gdb0"
    assert "-S" in argv and "-no-reboot" in argv


def test_module_commas_are_escaped_for_initrd() -> None:
    assert Module(Path("/x/prog"), ("a,b", "c")).initrd_spec() == "/x/prog a,,b c"


def test_machine_directory_is_private(tmp_path: Path) -> None:
    machine = QemuMachine(QemuConfig(boot_image=tmp_path / "k"))
    try:
        mode = stat.S_IMODE(machine.files.directory.stat().st_mode)
        assert mode == 0o700
    finally:
        machine.remove_files()
    assert not machine.files.directory.exists()


def test_debug_exit_status_decoding() -> None:
    assert guest_exit_status(1) == 0
    assert guest_exit_status(7) == 3
    assert guest_exit_status(0) is None
    assert guest_exit_status(-9) is None
    assert guest_exit_status(None) is None


def test_guest_ram_in_a_shared_file(tmp_path: Path) -> None:
    files = QemuFiles(tmp_path)
    ram = tmp_path / "ram,1"
    argv = build_argv(QemuConfig(boot_image=Path("k"), memory_mb=64, ram_file=ram), files)
    backend = argv[argv.index("-object") + 1]
    assert (
        backend == f"memory-backend-file,id=guest-ram,size=64M,mem-path={tmp_path}/ram,,1,share=on"
    )
    assert argv[argv.index("-machine") + 1] == "memory-backend=guest-ram"
    assert "-object" not in build_argv(QemuConfig(boot_image=Path("k")), files)
