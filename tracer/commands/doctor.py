"""Check that QEMU, gdb, the toolchain and the Python packages the tracer needs are installed, and
say how to install what is missing."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

from tracer.commands.common import EXIT_FAILURE, EXIT_OK


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str
    required: bool = True


def _version(argv: list[str]) -> str | None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (proc.stdout or proc.stderr).strip().splitlines()
    return text[0] if text else ""


def _tool(name: str, version_arg: str, package: str, required: bool = True) -> Check:
    path = shutil.which(name)
    if path is None:
        return Check(name, False, "not found", f"apt-get install {package}", required)
    return Check(name, True, _version([path, version_arg]) or path, "", required)


def _gdb_python() -> Check:
    path = shutil.which("gdb")
    if path is None:
        return Check("gdb python", False, "gdb missing", "apt-get install gdb")
    script = "python import sys; print(sys.version.split()[0])"
    out = _version([path, "-nx", "-batch", "-ex", script])
    ok = out is not None and out[:1].isdigit()
    return Check(
        "gdb python",
        ok,
        f"Python {out}" if ok else "gdb has no Python",
        "apt-get install gdb (Debian's gdb embeds Python)",
    )


def _module(name: str, package: str, required: bool = True) -> Check:
    ok = importlib.util.find_spec(name) is not None
    return Check(
        f"python: {package}",
        ok,
        "importable" if ok else "missing",
        f"pip install {package}",
        required,
    )


def checks() -> list[Check]:
    return [
        _tool("qemu-system-x86_64", "--version", "qemu-system-x86"),
        _tool("gdb", "--version", "gdb"),
        _gdb_python(),
        _tool("gcc", "--version", "gcc"),
        _tool("as", "--version", "binutils"),
        _tool("ld", "--version", "binutils"),
        _tool("objcopy", "--version", "binutils"),
        _tool("make", "--version", "make"),
        _tool("musl-gcc", "-v", "musl-tools", required=False),
        _tool("strace", "-V", "strace", required=False),
        _module("pygdbmi", "pygdbmi"),
        _module("capstone", "capstone"),
        _module("elftools", "pyelftools"),
        _module("rich", "rich"),
        _module("textual", "textual", required=False),
    ]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check QEMU, gdb and the toolchain", description=__doc__)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    results = checks()
    if args.json:
        print(json.dumps([asdict(c) for c in results], indent=2))
    else:
        for c in results:
            mark = "ok  " if c.ok else ("MISS" if c.required else "opt ")
            line = f"[{mark}] {c.name:20} {c.detail}"
            if not c.ok:
                line += f"  -> {c.fix}"
            print(line)
    missing = [c for c in results if c.required and not c.ok]
    if missing and not args.json:
        print(f"{len(missing)} required tool(s) missing; `./run setup` installs them all.")
    return EXIT_FAILURE if missing else EXIT_OK
