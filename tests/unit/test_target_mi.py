"""The MI channel against a real gdb (no QEMU): tokens, errors, console capture, death."""

from __future__ import annotations

import shutil

import pytest

from tracer.target.errors import GdbDied, GdbError
from tracer.target.mi import MiChannel, mi_quote

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb not installed")


@pytest.fixture
def channel():
    mi = MiChannel(["gdb", "--interpreter=mi3", "-nx", "-q"])
    yield mi
    mi.close()


def test_results_match_their_tokens(channel: MiChannel) -> None:
    values = [channel.command(f"-data-evaluate-expression {n}*3").get("value") for n in range(20)]
    assert values == [str(n * 3) for n in range(20)]


def test_error_becomes_gdb_error_with_gdb_message(channel: MiChannel) -> None:
    with pytest.raises(GdbError, match="No symbol"):
        channel.command("-data-evaluate-expression no_such_symbol_here")


def test_error_can_be_returned_instead(channel: MiChannel) -> None:
    result = channel.command("-no-such-mi-command", check=False)
    assert result.message == "error"


def test_console_output_is_collected(channel: MiChannel) -> None:
    assert "hello from gdb" in channel.console('python print("hello from gdb")')


def test_quoting_survives_quotes_and_backslashes(channel: MiChannel) -> None:
    text = 'a "quoted" \\ string'
    out = channel.console(f"python print({text!r})")
    assert text in out
    assert mi_quote('x"y') == '"x\\"y"'


def test_dead_gdb_raises_gdb_died(channel: MiChannel) -> None:
    channel.process.kill()
    channel.process.wait()
    with pytest.raises(GdbDied):
        channel.command("-gdb-version", timeout=5)
