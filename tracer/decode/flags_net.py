"""Socket values: address families, socket types, message flags, shutdown modes."""

from __future__ import annotations

from typing import Final

from tracer.decode.xlat import enum_table, flag_table

AF: Final = enum_table(
    "AF",
    {
        0: "AF_UNSPEC",
        1: "AF_UNIX",
        2: "AF_INET",
        3: "AF_AX25",
        4: "AF_IPX",
        5: "AF_APPLETALK",
        7: "AF_BRIDGE",
        9: "AF_X25",
        10: "AF_INET6",
        15: "AF_KEY",
        16: "AF_NETLINK",
        17: "AF_PACKET",
        29: "AF_CAN",
        31: "AF_BLUETOOTH",
        38: "AF_ALG",
        40: "AF_VSOCK",
        44: "AF_XDP",
    },
)

SOCK_TYPE: Final = enum_table(
    "SOCK",
    {
        1: "SOCK_STREAM",
        2: "SOCK_DGRAM",
        3: "SOCK_RAW",
        4: "SOCK_RDM",
        5: "SOCK_SEQPACKET",
        6: "SOCK_DCCP",
        10: "SOCK_PACKET",
    },
)

SOCK: Final = flag_table(
    "SOCK",
    ((0o2000000, "SOCK_CLOEXEC"), (0o4000, "SOCK_NONBLOCK")),
    field=SOCK_TYPE,
    field_mask=0xF,
)
"""socket's type argument: `SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK`."""

SOCK_FLAGS: Final = flag_table(
    "SOCK_FLAGS", ((0o2000000, "SOCK_CLOEXEC"), (0o4000, "SOCK_NONBLOCK")), unknown="SOCK_???"
)
"""accept4's flags: the socket-type flags without a type."""

MSG: Final = flag_table(
    "MSG",
    {
        0x1: "MSG_OOB",
        0x2: "MSG_PEEK",
        0x4: "MSG_DONTROUTE",
        0x8: "MSG_CTRUNC",
        0x10: "MSG_PROBE",
        0x20: "MSG_TRUNC",
        0x40: "MSG_DONTWAIT",
        0x80: "MSG_EOR",
        0x100: "MSG_WAITALL",
        0x200: "MSG_FIN",
        0x400: "MSG_SYN",
        0x800: "MSG_CONFIRM",
        0x1000: "MSG_RST",
        0x2000: "MSG_ERRQUEUE",
        0x4000: "MSG_NOSIGNAL",
        0x8000: "MSG_MORE",
        0x10000: "MSG_WAITFORONE",
        0x40000: "MSG_BATCH",
        0x4000000: "MSG_ZEROCOPY",
        0x20000000: "MSG_FASTOPEN",
        0x40000000: "MSG_CMSG_CLOEXEC",
    },
)

SHUT: Final = enum_table("SHUT", {0: "SHUT_RD", 1: "SHUT_WR", 2: "SHUT_RDWR"})

TABLES: Final = (AF, SOCK, SOCK_FLAGS, MSG, SHUT)
