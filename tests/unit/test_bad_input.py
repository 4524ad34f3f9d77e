"""`tracer capture` refuses bad input before anything boots: one line, exit status 2.

QEMU and gdb on PATH are fakes that leave a mark if they ever run; the mark must not appear.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tracer.api import InputError, Session, check_kernel, check_program
from tracer.cli import main

EM_AARCH64 = 183


@pytest.fixture(scope="module")
def elves(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small real ELF files: a static one with symbols (stands in for a kernel and a
    program), a stripped copy, a dynamically linked one, and one for another machine."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    tmp = tmp_path_factory.mktemp("elves")
    src = tmp / "tiny.c"
    src.write_text(
        'void _start(void) { for (;;) __asm__ volatile("hlt"); }\nint main(void) { return 0; }\n'
    )
    static = tmp / "static"
    dynamic = tmp / "dynamic"
    for argv in (
        ["gcc", "-static", "-nostdlib", "-o", str(static), str(src)],
        ["gcc", "-o", str(dynamic), "-x", "c", "-"],
    ):
        stdin = "int main(void) { return 0; }\n" if argv[-1] == "-" else None
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            pytest.skip(f"gcc failed: {proc.stderr[-200:]}")
    stripped = tmp / "stripped"
    proc = subprocess.run(
        ["objcopy", "--strip-all", str(static), str(stripped)], capture_output=True, check=False
    )
    if proc.returncode != 0:
        pytest.skip("objcopy is not installed")
    data = bytearray(static.read_bytes())
    data[18:20] = EM_AARCH64.to_bytes(2, "little")
    arm = tmp / "aarch64"
    arm.write_bytes(bytes(data))
    truncated = tmp / "truncated"
    truncated.write_bytes(static.read_bytes()[:40])
    cut = tmp / "cut-in-half"
    cut.write_bytes(static.read_bytes()[: static.stat().st_size // 2])
    text = tmp / "notes.txt"
    text.write_text("not an ELF file\n")
    spaced = tmp / "with space"
    shutil.copy(static, spaced)
    return {
        "static": static,
        "dynamic": dynamic,
        "stripped": stripped,
        "aarch64": arm,
        "truncated": truncated,
        "cut": cut,
        "text": text,
        "missing": tmp / "missing",
        "directory": tmp,
        "spaced": spaced,
    }


@pytest.fixture
def no_boot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fake qemu-system-x86_64 and gdb first on PATH: they write a mark if run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mark = tmp_path / "booted"
    for name in ("qemu-system-x86_64", "gdb"):
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\necho {name} >> {mark}\nexit 1\n")
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    return mark


def refuse(argv: list[str], capsys: pytest.CaptureFixture[str], mark: Path) -> str:
    """Run `tracer ARGV`: exit 2, exactly one line on stderr, and nothing booted."""
    status = main(argv)
    out, err = capsys.readouterr()
    assert status == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tracer: error: "), err
    assert "Traceback" not in err
    assert not mark.exists(), "QEMU or gdb was started for bad input"
    return lines[0]


KERNEL_CASES: dict[str, str] = {
    "missing": "no such file",
    "text": "not an ELF file",
    "aarch64": "ELF for AArch64, need x86-64",
    "stripped": "stripped",
    "truncated": "truncated",
    "cut": "truncated",
    "directory": "directory",
}


@pytest.mark.parametrize("case", list(KERNEL_CASES))
def test_bad_kernel(
    case: str,
    elves: dict[str, Path],
    no_boot: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = refuse(
        [
            "capture",
            "--kernel",
            str(elves[case]),
            "--boot-image",
            str(elves["static"]),
            "--program",
            str(elves["static"]),
            "-o",
            str(tmp_path / "t.db"),
        ],
        capsys,
        no_boot,
    )
    assert str(elves[case]) in line
    assert KERNEL_CASES[case] in line
    assert not (tmp_path / "t.db").exists()


PROGRAM_CASES: dict[str, str] = {
    **KERNEL_CASES,
    "dynamic": "dynamically linked",
    "spaced": "cannot contain whitespace",
}


@pytest.mark.parametrize("case", list(PROGRAM_CASES))
def test_bad_program(
    case: str,
    elves: dict[str, Path],
    no_boot: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = refuse(
        [
            "capture",
            "--kernel",
            str(elves["static"]),
            "--boot-image",
            str(elves["static"]),
            "--program",
            str(elves[case]),
            "-o",
            str(tmp_path / "t.db"),
        ],
        capsys,
        no_boot,
    )
    assert str(elves[case]) in line and PROGRAM_CASES[case] in line


OPTION_CASES: dict[str, tuple[list[str], str]] = {
    "max-events": (["--max-events", "0"], "--max-events must be positive"),
    "timeout": (["--timeout", "-1"], "--timeout must be positive"),
    "until": (["--until", "forever"], "--until takes exit or syscall:NAME"),
    "probes": (["--probes", "syscall,bogus"], "unknown probe(s): bogus"),
    "output-dir": (["-o", "/nonexistent-dir/t.db"], "does not exist"),
    "arg-space": (["--args", "'a b'"], "has whitespace"),
    "icount-one-vcpu": (["--icount", "shift=0,sleep=off"], "--icount sleep=off with one vCPU"),
}


@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_bad_options(
    case: str,
    elves: dict[str, Path],
    no_boot: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    extra, words = OPTION_CASES[case]
    argv = [
        "capture",
        "--kernel",
        str(elves["static"]),
        "--boot-image",
        str(elves["static"]),
        "--program",
        str(elves["static"]),
    ]
    if "-o" not in extra:
        argv += ["-o", str(tmp_path / "t.db")]
    assert words in refuse(argv + extra, capsys, no_boot)


def test_missing_boot_image(
    elves: dict[str, Path], no_boot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refuse(
        [
            "capture",
            "--kernel",
            str(elves["static"]),
            "--boot-image",
            str(tmp_path / "nope.bin"),
            "--program",
            str(elves["static"]),
        ],
        capsys,
        no_boot,
    )
    assert "no such boot image" in line


def test_json_mode_still_says_what_is_wrong(
    elves: dict[str, Path], no_boot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    status = main(
        [
            "capture",
            "--json",
            "--kernel",
            str(elves["text"]),
            "--boot-image",
            str(elves["static"]),
            "--program",
            str(elves["static"]),
        ]
    )
    out, err = capsys.readouterr()
    assert status == 2
    report = json.loads(out)
    assert report["ok"] is False and report["exit_status"] == 2
    assert "not an ELF file" in report["error"]


def test_argparse_errors_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["capture", "--no-such-option"])
    assert caught.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "check,case,words",
    [
        (check_kernel, "stripped", "stripped"),
        (check_kernel, "aarch64", "need x86-64"),
        (check_program, "dynamic", "dynamically linked"),
        (check_program, "truncated", "truncated"),
    ],
)
def test_api_checks_say_the_same_in_one_line(
    check: Callable[[Path], None], case: str, words: str, elves: dict[str, Path]
) -> None:
    with pytest.raises(InputError) as caught:
        check(elves[case])
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_api_session_refuses_before_booting(elves: dict[str, Path], no_boot: Path) -> None:
    with pytest.raises(InputError, match="dynamically linked"):
        Session([elves["dynamic"]], kernel=elves["static"], boot_image=elves["static"])
    with pytest.raises(InputError, match="whitespace"):
        Session(
            [(elves["static"], ["two words"])], kernel=elves["static"], boot_image=elves["static"]
        )
    assert not no_boot.exists()


def test_a_program_and_its_arguments_as_strace_takes_them(
    elves: dict[str, Path], tmp_path: Path
) -> None:
    """`tracer capture [options] PROG ARG...`: everything after PROG is its (options too)."""
    from tracer.cli import build_parser
    from tracer.commands.capture import build_options

    static = str(elves["static"])
    argv = ["capture", "--kernel", static, "--boot-image", static, "-o", str(tmp_path / "t.db"),
            "--program", static, "--args", "first", static, "-v", "--smp", "2"]  # fmt: skip
    options = build_options(build_parser().parse_args(argv))
    assert [(str(p.path), p.args) for p in options.programs] == [
        (static, ("first",)),
        (static, ("-v", "--smp", "2")),
    ]
    assert options.smp == 1  # the program's --smp, not the capture's
