"""The MI boundary against output that is not what gdb should print, and paths that must not
turn into extra gdb commands. No QEMU: the "gdb" here is a small Python program."""

from __future__ import annotations

import sys
import time

import pytest

from tracer.target.errors import GdbDied, GdbError
from tracer.target.gdb import StopEvent, cli_quote, parse_hit, to_stop_event
from tracer.target.mi import MiChannel, MiRecord, mi_quote


def fake_gdb(program: str) -> MiChannel:
    return MiChannel([sys.executable, "-c", program])


def test_garbage_then_exit_says_how_gdb_ended_and_what_it_printed() -> None:
    mi = fake_gdb("import sys; print('Segmentation fault (core dumped)'); sys.exit(139)")
    try:
        with pytest.raises(GdbDied) as caught:
            mi.command("-gdb-version", timeout=10)
    finally:
        mi.close()
    message = str(caught.value)
    assert "gdb exited with status 139" in message
    assert "Segmentation fault" in message


def test_a_program_that_never_speaks_mi_is_found_out_quickly() -> None:
    mi = fake_gdb(
        "import time\nwhile True:\n    print('garbage', flush=True)\n    time.sleep(0.1)\n"
    )
    started = time.monotonic()
    try:
        with pytest.raises(GdbError, match="does not speak gdb/MI; it printed: 'garbage'"):
            mi.command("-gdb-version", timeout=30)
    finally:
        mi.close()
    assert time.monotonic() - started < 10
    assert not mi.alive


def test_unknown_tokens_and_records_do_not_confuse_the_answer() -> None:
    program = r"""
import sys
for line in sys.stdin:
    if "-gdb-exit" in line:
        break
    token = line.split("-", 1)[0]
    for junk in ('999^done,value="wrong"', '^done,value="unterminated', '=odd-record,x="1"',
                 '*running,thread-id="all"', 'plain text', '\x00\xff'):
        print(junk, flush=True)
    print(token + '^done,value="right"', flush=True)
"""
    mi = fake_gdb(program)
    try:
        assert mi.command("-data-evaluate-expression 1", timeout=10).get("value") == "right"
        assert mi.command("-data-evaluate-expression 2", timeout=10).get("value") == "right"
    finally:
        mi.close()


def test_an_mi_error_becomes_a_one_line_gdb_error() -> None:
    program = (
        "import sys\nfor line in sys.stdin:\n"
        "    if '-gdb-exit' in line: break\n"
        "    print(line.split('-', 1)[0] + '^error,msg=\"Remote\\\\nconnection closed\"', "
        "flush=True)\n"
    )
    mi = fake_gdb(program)
    try:
        with pytest.raises(GdbError) as caught:
            mi.command("-target-select remote /nowhere", timeout=10)
    finally:
        mi.close()
    assert str(caught.value) == "Remote connection closed"


def test_malformed_stops_are_not_misread() -> None:
    odd = MiRecord("notify", "stopped", {"frame": "not a dict", "reason": "breakpoint-hit"})
    assert to_stop_event(odd) == StopEvent("breakpoint-hit", None, "")
    bad_addr = MiRecord("notify", "stopped", {"frame": {"addr": "0xzz"}})
    assert to_stop_event(bad_addr) == StopEvent("stopped", None, "")
    assert to_stop_event(MiRecord("notify", "stopped", ["a", "list"])) is not None
    assert to_stop_event(MiRecord("notify", "running", {})) is None


@pytest.mark.parametrize("line", [b"[1, 2]", b"42", b'"text"'])
def test_agent_lines_that_are_not_objects_are_refused(line: bytes) -> None:
    with pytest.raises(ValueError):
        parse_hit(line)


def test_paths_cannot_smuggle_gdb_commands() -> None:
    # A path is one quoted argument for gdb's CLI; a line break would start a new command.
    assert cli_quote('/tmp/a "b" c\\d') == '"/tmp/a \\"b\\" c\\\\d"'
    with pytest.raises(GdbError, match="line break"):
        cli_quote("/tmp/x\nshell touch /tmp/pwned")
    assert "\n" not in mi_quote("python print(1)\nshell id")
