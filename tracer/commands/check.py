"""Check a recorded trace against the invariants of the user/kernel boundary: kernel code on an app
TCB, GS base wrong for the ring, pt_regs disagreeing with SYSCALL's registers, sysret to a
non-canonical RIP, STAR/GDT and FMASK mistakes, unexplained base changes. Exit status 1 when
anything is found."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tracer.commands.common import EXIT_FAILURE, EXIT_OK
from tracer.commands.kernel_option import trace_command, trace_kernel


def add_parser(sub: Any) -> None:
    p = trace_command(
        sub, "check", "check a trace for TLS, swapgs, pt_regs and MSR violations", __doc__
    )
    p.add_argument("--json", action="store_true", help="findings as a JSON list")
    p.add_argument("--first", action="store_true", help="stop at the first finding")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tracer.analysis.checks import Checker
    from tracer.analysis.kernel_facts import kernel_facts
    from tracer.store import TraceReader

    with TraceReader.open(args.trace) as reader:
        meta = reader.meta
        kernel = trace_kernel(args.kernel, meta, args.trace)
        facts, symbolize = kernel_facts(kernel, meta)
        findings = []
        for finding in Checker(facts, symbolize).check(reader.events()):
            findings.append(finding)
            if args.first:
                break
    if args.json:
        print(json.dumps([f.to_json() for f in findings], indent=2))
    else:
        for f in findings:
            where = f" at {f.pc:#x} <{f.function}>" if f.pc is not None and f.function else ""
            who = f"[cpu{f.cpu} pid {f.pid}] " if f.cpu is not None else ""
            print(f"event {f.seq}: {who}{f.rule}: {f.message}{where}")
        print(f"{len(findings)} violation(s)" if findings else "no violations", file=sys.stderr)
    return EXIT_FAILURE if findings else EXIT_OK
