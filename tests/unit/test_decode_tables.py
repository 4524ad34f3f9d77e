"""The data files behind the decoders: `flags.tbl` and `structs.tbl` parse into the tables the
printers use, and a malformed line is refused rather than read as something else."""

from __future__ import annotations

import pytest

from tracer.decode.flag_tables import IOCTL, TABLES, TableFileError, parse_tables
from tracer.decode.structs import LAYOUTS, parse_layouts
from tracer.decode.xlat import format_enum, format_flags

SMALL = """\
# a comment
enum T_KIND name=T unknown=none
    0  T_A
    2  T_B
flags T field=T_KIND/0x3 width=64
    0o10   T_EIGHT      # trailing comment
    0x100  T_HIGH
ioctl IOCTL
    0x5401  ptr  TCGETS
    0x5402  none SNDCTL_TMR_START or TCSETS
"""


def test_a_small_file_gives_its_tables_and_requests() -> None:
    tables, ioctl = parse_tables(SMALL)
    kind, flags = tables["T_KIND"], tables["T"]
    assert format_enum(kind, 7) == "7"  # unknown=none: bare decimal
    assert format_flags(flags, 0x10A) == "T_B|T_EIGHT|T_HIGH"
    assert format_flags(flags, 1 << 40 | 0x8) == "T_A|T_EIGHT|0x10000000000"  # width=64
    assert ioctl == {0x5401: ("TCGETS", "ptr"), 0x5402: ("SNDCTL_TMR_START or TCSETS", "none")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flags T colour=red\n    1 T_ONE\n", "unknown option"),
        ("table T\n    1 T_ONE\n", "unknown table kind"),
        ("ioctl IOCTL\n    0x1 often FIBMAP\n", "unknown argument style"),
    ],
)
def test_malformed_headers_are_refused(text: str, message: str) -> None:
    with pytest.raises(TableFileError, match=message):
        parse_tables(text)


def test_the_shipped_file_keeps_strace_order_and_names() -> None:
    open_bits = [name for _bits, name in TABLES["O"].bits]  # type: ignore[union-attr]
    assert open_bits.index("O_SYNC") < open_bits.index("O_DSYNC")
    assert open_bits[-1] == "FASYNC"
    assert TABLES["O_FLAGS"].unknown == "O_???"
    assert IOCTL[0x5401] == ("TCGETS", "ptr")


def test_struct_layouts_parse_with_their_options() -> None:
    layouts = parse_layouts("pair 16 length=elements max_count=4  # two longs\n"
                            "    a  0  8  signed\n    b  8  8\n")  # fmt: skip
    pair = layouts["pair"]
    assert (pair.size, pair.length, pair.max_count) == (16, "elements", 4)
    assert pair.values((-1).to_bytes(8, "little", signed=True) + (5).to_bytes(8, "little")) == {
        "a": -1,
        "b": 5,
    }
    assert pair.read_size(5) == 0  # more than max_count: nothing is read
    assert LAYOUTS["iovec"].max_count == 1024


def test_a_struct_with_an_unknown_length_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown length"):
        parse_layouts("odd 8 length=sometimes\n    x 0 8\n")
