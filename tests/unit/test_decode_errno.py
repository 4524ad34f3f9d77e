"""errno names and messages, as strace prints them."""

from __future__ import annotations

import errno
import os
import platform

import pytest

from tracer.decode.errno import ERRNO, errno_message, errno_name, format_errno


def test_covers_every_linux_errno() -> None:
    assert set(ERRNO) == (set(range(1, 134)) - {41, 58}) | (set(range(512, 532)) - {520})


@pytest.mark.parametrize(
    ("err", "name", "message"),
    [
        (1, "EPERM", "Operation not permitted"),
        (2, "ENOENT", "No such file or directory"),
        (11, "EAGAIN", "Resource temporarily unavailable"),
        (14, "EFAULT", "Bad address"),
        (22, "EINVAL", "Invalid argument"),
        (25, "ENOTTY", "Inappropriate ioctl for device"),
        (35, "EDEADLK", "Resource deadlock avoided"),
        (38, "ENOSYS", "Function not implemented"),
        (95, "EOPNOTSUPP", "Operation not supported"),
        (133, "EHWPOISON", "Memory page has hardware error"),
        (512, "ERESTARTSYS", "To be restarted if SA_RESTART is set"),
        (516, "ERESTART_RESTARTBLOCK", "Interrupted by signal"),
    ],
)
def test_names_and_messages(err: int, name: str, message: str) -> None:
    assert errno_name(err) == name
    assert errno_message(err) == message


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="messages are glibc's strerror")
def test_messages_equal_this_glibcs_strerror() -> None:
    for err in range(1, 134):
        assert errno_message(err) == os.strerror(err), err


def test_names_equal_pythons_errno_module_but_straces_choice_of_alias() -> None:
    strace_choice = {11: "EAGAIN", 35: "EDEADLK", 95: "EOPNOTSUPP"}
    for err, (name, _) in ERRNO.items():
        if err < 512 and err in errno.errorcode:
            assert name == strace_choice.get(err, errno.errorcode[err]), err


@pytest.mark.parametrize(
    ("err", "text"),
    [
        (2, "-1 ENOENT (No such file or directory)"),
        (38, "-1 ENOSYS (Function not implemented)"),
        (512, "? ERESTARTSYS (To be restarted if SA_RESTART is set)"),
        (513, "? ERESTARTNOINTR (To be restarted)"),
        (514, "? ERESTARTNOHAND (To be restarted if no handler)"),
        (516, "? ERESTART_RESTARTBLOCK (Interrupted by signal)"),
        (515, "-1 ENOIOCTLCMD (Unknown error 515)"),
        (41, "-1 41 (Unknown error 41)"),
        (200, "-1 200 (Unknown error 200)"),
    ],
)
def test_format_errno(err: int, text: str) -> None:
    assert format_errno(err) == text
