"""The guest kernel under QEMU: programs run, faults are contained, the ground-truth log holds.

Each test boots its own QEMU through qemu/boot (the guest console is its stdout, the guest's
status its exit code). The ground-truth log is read here only to check the kernel itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GUEST = REPO / "guest"
USER = GUEST / "build" / "user"
BOOT = REPO / "qemu" / "boot"

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(
        shutil.which("qemu-system-x86_64") is None,
        reason="qemu-system-x86_64 not installed (apt-get install qemu-system-x86)",
    ),
]

# qemu/boot exit statuses besides the programs' own (qemu/boot --help)
ALL_OK, PANIC, BAD_PROGRAM = 0, 122, 126
# the guest's isa-debug-exit code (the ground-truth log's poweroff) when a program failed
PROCESS_FAILED = 1
SIGSEGV = 11

SYSCALL_NAMES = {
    0: "read",
    1: "write",
    3: "close",
    5: "fstat",
    9: "mmap",
    10: "mprotect",
    11: "munmap",
    12: "brk",
    13: "rt_sigaction",
    14: "rt_sigprocmask",
    16: "ioctl",
    20: "writev",
    39: "getpid",
    60: "exit",
    89: "readlink",
    158: "arch_prctl",
    218: "set_tid_address",
    228: "clock_gettime",
    231: "exit_group",
    262: "newfstatat",
    273: "set_robust_list",
    302: "prlimit64",
    318: "getrandom",
    334: "rseq",
}

# What `strace ./hello-glibc` shows on the host after execve (glibc 2.36, static).
GLIBC_HELLO_SYSCALLS = [
    "brk",
    "brk",
    "arch_prctl",
    "set_tid_address",
    "set_robust_list",
    "rseq",
    "prlimit64",
    "readlink",
    "getrandom",
    "brk",
    "brk",
    "brk",
    "mprotect",
    "newfstatat",
    "write",
    "exit_group",
]
PT_REGS_FIELDS = [
    "r15",
    "r14",
    "r13",
    "r12",
    "bp",
    "bx",
    "r11",
    "r10",
    "r9",
    "r8",
    "ax",
    "cx",
    "dx",
    "si",
    "di",
    "orig_ax",
    "ip",
    "cs",
    "flags",
    "sp",
    "ss",
]
ENOSYS = 38
USER_CS, USER_DS = 0x33, 0x2B
MSR_STAR, MSR_LSTAR, MSR_SYSCALL_MASK = 0xC0000081, 0xC0000082, 0xC0000084
X86_EFLAGS_TF, X86_EFLAGS_IF, X86_EFLAGS_DF, X86_EFLAGS_AC = 0x100, 0x200, 0x400, 0x40000


@dataclass
class Boot:
    status: int
    console: str
    gtlog: list[dict]


@pytest.fixture(scope="session")
def built() -> None:
    result = subprocess.run(["make", "-C", str(GUEST), "-s", "-j2"], capture_output=True, text=True)
    if result.returncode:
        pytest.fail(f"make -C guest failed:\n{result.stdout}\n{result.stderr}")


def boot(
    *programs: list[str],
    gtlog: Path | None = None,
    cmdline: str = "",
    profile: str = "default",
    timeout: int = 60,
    smp: int = 1,
) -> Boot:
    argv = [
        sys.executable,
        str(BOOT),
        "--no-build",
        "--timeout",
        str(timeout),
        "--profile",
        profile,
    ]
    if cmdline:
        argv += ["--cmdline", cmdline]
    if smp != 1:
        argv += ["--smp", str(smp)]
    if gtlog:
        argv += ["--gtlog", str(gtlog)]
    for i, words in enumerate(programs):
        argv += (["--"] if i else []) + [str(w) for w in words]
    result = subprocess.run(
        argv, capture_output=True, timeout=timeout + 30, stdin=subprocess.DEVNULL
    )
    console = result.stdout.decode(errors="replace")
    lines = gtlog.read_text().splitlines() if gtlog and gtlog.exists() else []
    return Boot(
        result.returncode,
        console + result.stderr.decode(errors="replace"),
        [json.loads(line) for line in lines],
    )


def syscall_names(events: list[dict], pid: int = 1) -> list[str]:
    return [
        SYSCALL_NAMES.get(e["nr"], str(e["nr"]))
        for e in events
        if e["ev"] == "syscall_entry" and e["pid"] == pid
    ]


@pytest.mark.parametrize("program", ["hello-glibc", "hello-musl", "hello-static-pie"])
def test_hello_prints_and_exits_zero(built: None, program: str) -> None:
    if not (USER / program).exists():
        pytest.skip(f"{program} not built (musl-gcc missing?)")
    run = boot([USER / program])
    assert run.status == ALL_OK, run.console
    assert "Hello, world!" in run.console


@pytest.mark.parametrize("profile", ["icount", "qemu64", "q35"])
def test_hello_boots_on_every_profile(built: None, profile: str) -> None:
    run = boot([USER / "hello-glibc"], profile=profile)
    assert run.status == ALL_OK, run.console
    assert "Hello, world!" in run.console


def test_programs_run_in_order_with_their_arguments(built: None) -> None:
    run = boot([USER / "crash", "ok"], [USER / "hello-musl"], [USER / "crash", "ok"])
    assert run.status == ALL_OK, run.console
    assert run.console.count("crash: ok") == 2
    assert run.console.index("crash: ok") < run.console.index("Hello, world!")


def test_glibc_hello_syscalls_match_strace_list(built: None, tmp_path: Path) -> None:
    run = boot([USER / "hello-glibc"], gtlog=tmp_path / "gt.log")
    assert run.status == ALL_OK, run.console
    assert syscall_names(run.gtlog) == GLIBC_HELLO_SYSCALLS


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_glibc_hello_syscalls_equal_host_strace(built: None, tmp_path: Path) -> None:
    """The same binary on the host kernel and in the guest makes the same calls in order.

    Differences accounted for: the host trace starts with execve (the guest loads the program
    from a boot module instead) and strace's own "+++ exited" line. Results may differ (rseq is
    -ENOSYS in the guest, stdout is a pipe on the host and a tty in the guest) without changing
    the sequence: glibc treats a pts st_rdev as a tty without an ioctl, as it does a pipe.
    """
    trace = tmp_path / "strace.txt"
    subprocess.run(
        ["strace", "-o", str(trace), str(USER / "hello-glibc")], check=True, capture_output=True
    )
    host = [
        line.split("(", 1)[0]
        for line in trace.read_text().splitlines()
        if "(" in line and not line.startswith("+++")
    ]
    assert host[0] == "execve"
    run = boot([USER / "hello-glibc"], gtlog=tmp_path / "gt.log")
    assert run.status == ALL_OK, run.console
    assert syscall_names(run.gtlog) == host[1:]


@pytest.mark.parametrize("program", ["tls-glibc", "tls-musl"])
def test_thread_locals_survive_syscalls(built: None, program: str) -> None:
    if not (USER / program).exists():
        pytest.skip(f"{program} not built (musl-gcc missing?)")
    run = boot([USER / program, "300"])
    assert run.status == ALL_OK, run.console
    assert "tls: OK (300 rounds" in run.console


@pytest.mark.parametrize("program", ["allsyscalls-glibc", "allsyscalls-musl"])
def test_every_syscall_returns_what_linux_would(built: None, program: str) -> None:
    if not (USER / program).exists():
        pytest.skip(f"{program} not built (musl-gcc missing?)")
    run = boot([USER / program])
    failures = [line for line in run.console.splitlines() if line.startswith("FAIL")]
    assert failures == []
    assert run.status == ALL_OK, run.console
    assert ", 0 failed" in run.console


def test_fuzzer_leaves_the_kernel_alive(built: None) -> None:
    run = boot([USER / "fuzzer", "100000", "7"], [USER / "hello-glibc"], timeout=120)
    assert run.status == ALL_OK, run.console
    assert "fuzzer: done:" in run.console
    assert "Hello, world!" in run.console  # the kernel still runs the next program


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("null", "crash: killed by #PF at rip=0x"),
        ("ud2", "crash: killed by #UD at rip=0x"),
        ("div0", "crash: killed by #DE at rip=0x"),
        ("gp", "crash: killed by #GP at rip=0x"),
        ("kernel", "crash: killed by #PF at rip=0x"),
        ("int80", "crash: killed by #GP at rip=0x"),
        ("abort", "crash: killed by signal 6"),
    ],
)
def test_ring3_fault_ends_only_that_process(
    built: None, tmp_path: Path, mode: str, message: str
) -> None:
    run = boot([USER / "crash", mode], [USER / "hello-glibc"], gtlog=tmp_path / "gt.log")
    assert message in run.console
    assert "still alive" not in run.console
    assert run.console.index(message) < run.console.index("Hello, world!")
    exits = {e["pid"]: e for e in run.gtlog if e["ev"] == "process_exit"}
    assert exits[1]["status"] == 128 + exits[1]["signal"] and exits[1]["signal"] > 0
    assert exits[2]["status"] == 0
    assert run.status == exits[1]["status"], run.console  # as a shell reports a killed program


def test_stack_overflow_and_memory_exhaustion_are_survived(built: None) -> None:
    run = boot(
        [USER / "crash", "stack"],
        [USER / "crash", "oom"],
        [USER / "crash", "oom"],
        [USER / "hello-glibc"],
    )
    assert run.status == 128 + SIGSEGV, run.console  # the stack overflow
    assert "crash: killed by #PF" in run.console
    mapped = [line for line in run.console.splitlines() if "before ENOMEM" in line]
    assert len(mapped) == 2 and mapped[0] == mapped[1]  # all memory came back in between
    assert "Hello, world!" in run.console


def test_kernel_fault_panics_with_its_own_status(built: None, tmp_path: Path) -> None:
    run = boot([USER / "hello-glibc"], cmdline="kfault=1", gtlog=tmp_path / "gt.log")
    assert run.status == PANIC, run.console
    assert "Kernel panic: unexpected #PF in the kernel" in run.console
    assert "Hello, world!" not in run.console
    assert [e["ev"] for e in run.gtlog][-2:] == ["panic", "poweroff"]


def test_null_dereference_reports_cr2(built: None) -> None:
    run = boot([USER / "crash", "null"])
    assert "cr2=0x0 error_code=0x6" in run.console  # write (W=1) from user (U=1), not present


def test_unloadable_programs_are_refused_and_the_rest_run(built: None, tmp_path: Path) -> None:
    not_elf = tmp_path / "notes.txt"
    not_elf.write_text("not a program\n")
    programs = [[not_elf], [USER / "hello-musl"]]
    dynamic = shutil.which("true")
    if dynamic and b"ld-linux" in Path(dynamic).read_bytes()[:4096]:
        programs.insert(1, [dynamic])
    run = boot(*programs)
    assert run.status == BAD_PROGRAM, run.console
    assert "not an ELF file" in run.console
    if len(programs) == 3:
        assert "PT_INTERP" in run.console
    assert "Hello, world!" in run.console


def test_malformed_elf_files_are_refused(built: None, tmp_path: Path) -> None:
    image = (USER / "hello-glibc").read_bytes()
    bad_entry = tmp_path / "bad-entry"
    bad_entry.write_bytes(image[:24] + (0x8000000000000000).to_bytes(8, "little") + image[32:])
    truncated = tmp_path / "truncated"
    truncated.write_bytes(image[:2000])
    run = boot([bad_entry], [truncated], [USER / "hello-musl"])
    assert run.status == BAD_PROGRAM, run.console
    assert "entry point outside user space" in run.console
    assert "segment outside the file" in run.console
    assert "Hello, world!" in run.console


def test_non_canonical_user_rsp_is_harmless(built: None) -> None:
    # syscalls (SYSRET) and timer interrupts (IRET) with RSP = 0x8000000000000000
    run = boot([USER / "crash", "badrsp"])
    assert run.status == ALL_OK, run.console
    assert "crash: badrsp: survived" in run.console


def kernel_symbol(name: str) -> int:
    from elftools.elf.elffile import ELFFile

    with open(GUEST / "build" / "kernel.elf", "rb") as f:
        symbols = ELFFile(f).get_section_by_name(".symtab")
        return symbols.get_symbol_by_name(name)[0]["st_value"]


def test_ground_truth_log_is_json_with_full_pt_regs(built: None, tmp_path: Path) -> None:
    run = boot([USER / "hello-glibc"], [USER / "hello-musl"], gtlog=tmp_path / "gt.log")
    assert run.status == ALL_OK, run.console
    events = run.gtlog  # every line parsed as JSON by boot()
    kinds = [e["ev"] for e in events]
    assert kinds[0] == "boot" and kinds[-1] == "poweroff" and events[-1]["code"] == 0
    entries = [e for e in events if e["ev"] == "syscall_entry"]
    assert len(entries) > 20
    for e in entries:
        regs = e["regs"]
        assert list(regs) == PT_REGS_FIELDS
        assert regs["orig_ax"] == e["nr"]
        assert regs["ip"] == e["rip"] == regs["cx"]  # SYSCALL put the user RIP in RCX
        assert regs["flags"] == regs["r11"]  # ... and RFLAGS in R11
        assert regs["sp"] == e["rsp"]
        assert (regs["cs"], regs["ss"]) == (USER_CS, USER_DS)
        assert regs["ax"] == 2**64 - ENOSYS  # preset like Linux
        assert e["args"] == [regs[r] for r in ("di", "si", "dx", "r10", "r8", "r9")]
        assert e["rip"] < 2**47 and e["rsp"] < 2**47
    # every entry but exit_group's is followed by its exit
    pending = None
    for e in events:
        if e["ev"] == "syscall_entry":
            assert pending is None
            pending = e
        elif e["ev"] == "syscall_exit":
            assert pending is not None and pending["nr"] == e["nr"]
            pending = None
        elif e["ev"] == "process_exit":
            assert pending is not None and pending["nr"] == 231
            pending = None
    starts = [e for e in events if e["ev"] == "process_start"]
    assert [(s["pid"], Path(s["path"]).name) for s in starts] == [
        (1, "hello-glibc"),
        (2, "hello-musl"),
    ]


def test_ground_truth_log_records_msr_and_fs_writes(built: None, tmp_path: Path) -> None:
    run = boot([USER / "hello-glibc"], gtlog=tmp_path / "gt.log")
    msrs = {e["msr"]: e["value"] for e in run.gtlog if e["ev"] == "msr_write"}
    assert msrs[MSR_LSTAR] == kernel_symbol("entry_SYSCALL_64")
    assert msrs[MSR_STAR] == (0x23 << 48) | (0x10 << 32)
    mask = X86_EFLAGS_IF | X86_EFLAGS_TF | X86_EFLAGS_DF | X86_EFLAGS_AC
    assert msrs[MSR_SYSCALL_MASK] & mask == mask
    set_fs = [e for e in run.gtlog if e["ev"] == "syscall_entry" and e["nr"] == 158]
    segbase = [e for e in run.gtlog if e["ev"] == "segbase" and e["cause"] == "arch_prctl"]
    assert set_fs[0]["args"][0] == 0x1002
    assert [(s["which"], s["new"]) for s in segbase] == [("fs", set_fs[0]["args"][1])]


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb not installed")
def test_gdb_attach_stops_in_do_syscall_64(built: None) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "qemu" / "gdb-attach"),
            "--no-build",
            "--batch",
            "--ex",
            "break do_syscall_64",
            "--ex",
            "continue",
            "--ex",
            "print nr",
            "--ex",
            "print regs->orig_ax",
            "--ex",
            "print ((struct percpu *)$gs_base)->self",
            str(USER / "hello-glibc"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert "$1 = 12" in result.stdout, result.stdout + result.stderr  # brk
    assert "$2 = 12" in result.stdout
    assert "<cpu0_percpu>" in result.stdout


def test_ground_truth_log_overflows_from_ram_to_the_port(built: None, tmp_path: Path) -> None:
    """gtlog=mem with room for a few lines: the rest go to the debug port, and the log read
    back (RAM first, then the port) is the whole log in order, as with the room it needs."""
    whole = boot([USER / "hello-glibc"], gtlog=tmp_path / "whole.log")
    small = boot(
        [USER / "hello-glibc"], gtlog=tmp_path / "small.log", cmdline="gtlog_mem_room=2048"
    )
    assert whole.status == small.status == ALL_OK, small.console
    assert len((tmp_path / "small.log").read_bytes()) > 4 * 2048  # most of it on the port
    for run in (whole, small):
        assert run.gtlog[0]["ev"] == "boot" and run.gtlog[-1]["ev"] == "poweroff"
    assert syscall_names(small.gtlog) == syscall_names(whole.gtlog) == GLIBC_HELLO_SYSCALLS
    tsc = [e["tsc"] for e in small.gtlog]
    assert tsc == sorted(tsc)  # one CPU: the lines in the order they were written
