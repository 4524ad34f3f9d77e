"""Syscall rows for sockets, System V IPC and POSIX message queues. Row format and argument
spec: see `syscall_table`."""

from __future__ import annotations

from typing import Final

Row = tuple[int, str, str] | tuple[int, str, str, str]

_SOCKADDR_OUT: Final = "fd addr:struct_out addrlen:struct_out"
_SENDTO: Final = "fd buff:buf_in@2 len:ulong flags:flags=MSG addr:struct_in addr_len:int"
_RECVFROM: Final = "fd ubuf:buf_out@ret size:ulong flags:flags=MSG addr:ptr addr_len:ptr"

ROWS: Final[tuple[Row, ...]] = (
    (29, "shmget", "key:hex size:ulong shmflg:hex"),
    (30, "shmat", "shmid:int shmaddr:ptr shmflg:hex", "hex"),
    (31, "shmctl", "shmid:int cmd:int buf:ptr"),
    (41, "socket", "family:enum=AF type:flags=SOCK protocol:int"),
    (42, "connect", "fd uservaddr:struct_in addrlen:int"),
    (43, "accept", _SOCKADDR_OUT),
    (44, "sendto", _SENDTO),
    (45, "recvfrom", _RECVFROM),
    (46, "sendmsg", "fd msg:struct_in flags:flags=MSG"),
    (47, "recvmsg", "fd msg:struct_out flags:flags=MSG"),
    (48, "shutdown", "fd how:enum=SHUT"),
    (49, "bind", "fd umyaddr:struct_in addrlen:int"),
    (50, "listen", "fd backlog:int"),
    (51, "getsockname", _SOCKADDR_OUT),
    (52, "getpeername", _SOCKADDR_OUT),
    (53, "socketpair", "family:enum=AF type:flags=SOCK protocol:int usockvec:struct_out"),
    (54, "setsockopt", "fd level:int optname:int optval:struct_in optlen:int"),
    (55, "getsockopt", "fd level:int optname:int optval:struct_out optlen:struct_out"),
    (64, "semget", "key:hex nsems:int semflg:hex"),
    (65, "semop", "semid:int tsops:struct_in nsops:uint"),
    (66, "semctl", "semid:int semnum:int cmd:int arg:hex"),
    (67, "shmdt", "shmaddr:ptr"),
    (68, "msgget", "key:hex msgflg:hex"),
    (69, "msgsnd", "msqid:int msgp:struct_in msgsz:ulong msgflg:hex"),
    (70, "msgrcv", "msqid:int msgp:struct_out msgsz:ulong msgtyp:long msgflg:hex"),
    (71, "msgctl", "msqid:int cmd:int buf:ptr"),
    (220, "semtimedop", "semid:int tsops:struct_in nsops:uint timeout:struct_in"),
    (240, "mq_open", "name:str oflag:flags=O mode:mode attr:struct_in"),
    (241, "mq_unlink", "name:str"),
    (242, "mq_timedsend", "mqdes:fd msg:buf_in@2 msg_len:ulong msg_prio:uint timeout:struct_in"),
    (
        243,
        "mq_timedreceive",
        "mqdes:fd msg:buf_out@ret msg_len:ulong msg_prio:ptr timeout:struct_in",
    ),
    (244, "mq_notify", "mqdes:fd notification:struct_in"),
    (245, "mq_getsetattr", "mqdes:fd mqstat:struct_in omqstat:struct_out"),
    (288, "accept4", "fd addr:struct_out addrlen:struct_out flags:flags=SOCK_FLAGS"),
    (299, "recvmmsg", "fd mmsg:struct_out vlen:uint flags:flags=MSG timeout:struct_in"),
    (307, "sendmmsg", "fd mmsg:struct_in vlen:uint flags:flags=MSG"),
)
