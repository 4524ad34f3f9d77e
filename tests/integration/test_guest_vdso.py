"""The guest's vDSO: a real ELF shared object with Linux's LINUX_2.6 symbols, mapped into every
process (AT_SYSINFO_EHDR), used by static glibc and musl without a syscall."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from test_guest import GUEST, USER, boot, built  # noqa: F401

pytestmark = pytest.mark.qemu  # every test boots the guest

VDSO = GUEST / "build" / "vdso" / "vdso.so"
VDSO_OUTPUT = [
    "vdso: ELF at AT_SYSINFO_EHDR",
    "clock_gettime(CLOCK_MONOTONIC): 1000 calls, never backwards",
    "gettimeofday and time agree with CLOCK_REALTIME: yes",
    "sched_getcpu: a CPU number",
    "clock_gettime(CLOCK_PROCESS_CPUTIME_ID): 0",
]
CLOCK_GETTIME, GETTIMEOFDAY, TIME, GETCPU = 228, 96, 201, 309


def test_vdso_is_a_shared_object_with_linux_symbols(built: None) -> None:
    with VDSO.open("rb") as f:
        elf = ELFFile(f)
        assert elf.header.e_type == "ET_DYN"
        assert elf.get_section_by_name(".hash") and elf.get_section_by_name(".gnu.hash")
        assert not any(s.name.startswith(".rela") for s in elf.iter_sections())
        dynsym = elf.get_section_by_name(".dynsym")
        versym = elf.get_section_by_name(".gnu.version")
        verdef = elf.get_section_by_name(".gnu.version_d")
        names = {
            index: aux.name
            for verdef_entry, auxes in verdef.iter_versions()
            for index, aux in [(verdef_entry["vd_ndx"], next(auxes))]
        }
        versions = {
            sym.name: names.get(versym.get_symbol(i)["ndx"])
            for i, sym in enumerate(dynsym.iter_symbols())
            if sym.name
        }
    for name in ("clock_gettime", "gettimeofday", "time", "getcpu"):
        assert versions[f"__vdso_{name}"] == "LINUX_2.6"
        assert versions[name] == "LINUX_2.6"


@pytest.mark.parametrize("cpus", [1, 2])
def test_static_programs_read_the_clocks_without_syscalls(
    built: None, tmp_path: Path, cpus: int
) -> None:
    programs = [[USER / "vdso-glibc"]]
    if (USER / "vdso-musl").exists():
        programs.append([USER / "vdso-musl"])
    run = boot(*programs, gtlog=tmp_path / "gt.log", smp=cpus)
    assert run.status == 0, run.console
    lines = [line for line in run.console.splitlines() if line in VDSO_OUTPUT]
    assert lines == VDSO_OUTPUT * len(programs)
    calls = Counter((e["pid"], e["nr"]) for e in run.gtlog if e["ev"] == "syscall_entry")
    for pid in range(1, len(programs) + 1):
        # only the CPU-time clock goes to the kernel (the vDSO falls back to the syscall)
        assert calls[(pid, CLOCK_GETTIME)] == 1
        assert not calls[(pid, GETTIMEOFDAY)] and not calls[(pid, TIME)]
        assert not calls[(pid, GETCPU)]
