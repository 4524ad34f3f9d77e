"""User memory as strace quotes it: `"Hello, world!\\n"`, `"\\177ELF\\2\\1"...`.

strace's escapes: `\\"` and `\\\\`; `\\t \\n \\v \\f \\r` by letter; printable ASCII as is; every
other byte in octal, as short as possible unless the next shown byte is an octal digit (then
three digits, so `\\0` then `1` reads back right: `\\0001`). Strings and buffers show at most
32 bytes (strace's default `-s 32`) and a `...` after the closing quote when there was more.
"""

from __future__ import annotations

from typing import Final

MAX_STRLEN: Final = 32
"""How many bytes strace shows of a string or buffer (its `-s` default)."""

_LETTER_ESCAPES: Final = {
    ord('"'): '\\"',
    ord("\\"): "\\\\",
    ord("\t"): "\\t",
    ord("\n"): "\\n",
    ord("\v"): "\\v",
    ord("\f"): "\\f",
    ord("\r"): "\\r",
}
_OCTAL_DIGITS: Final = frozenset(b"01234567")


def quote_bytes(data: bytes, *, hex_escape: bool = False) -> str:
    """`data` between double quotes with strace's escapes (`hex_escape`: every byte `\\xNN`)."""
    if hex_escape:
        return '"' + "".join(f"\\x{byte:02x}" for byte in data) + '"'
    out: list[str] = ['"']
    for i, byte in enumerate(data):
        escaped = _LETTER_ESCAPES.get(byte)
        if escaped is not None:
            out.append(escaped)
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        elif i + 1 < len(data) and data[i + 1] in _OCTAL_DIGITS:
            out.append(f"\\{byte:03o}")
        else:
            out.append(f"\\{byte:o}")
    out.append('"')
    return "".join(out)


def format_string(data: bytes, *, truncated: bool, hex_escape: bool = False) -> str:
    """A quoted string, followed by `...` when it was longer than what is shown."""
    return quote_bytes(data, hex_escape=hex_escape) + ("..." if truncated else "")


def format_buffer(data: bytes, length: int, *, hex_escape: bool = False) -> str:
    """A buffer of `length` bytes of which `data` (its start) was read: 32 bytes at most."""
    shown = data[: min(length, MAX_STRLEN)]
    return format_string(shown, truncated=length > len(shown), hex_escape=hex_escape)
