"""What every subcommand shares: exit codes, one-line errors, signal handling."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Iterator
from types import FrameType

from tracer.guest import InputError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM
DEBUG_ENV = "TRACER_DEBUG"


UsageError = InputError
"""Bad input from the user: a one-line message and exit status 2. The same class as the API's
`tracer.guest.InputError`, so the guest and input checks serve both faces."""


def fail(message: str, code: int = EXIT_FAILURE) -> int:
    print(f"tracer: error: {message}", file=sys.stderr)
    return code


def internal_error(exc: BaseException) -> int:
    """The last resort: one line, and the traceback only when TRACER_DEBUG is set."""
    if os.environ.get(DEBUG_ENV):
        traceback.print_exception(exc)
        return fail(f"internal error: {type(exc).__name__}: {_one_line(exc)}")
    return fail(
        f"internal error: {type(exc).__name__}: {_one_line(exc)} "
        f"(run with {DEBUG_ENV}=1 to see the traceback)"
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or "(no message)"


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM becomes `Terminated` (a KeyboardInterrupt) so every `with` block cleans up."""
    from tracer.target.errors import Terminated

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise Terminated("terminated")

    try:
        old = signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread (main() called from a thread): leave it be
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def quiet_broken_pipe() -> None:
    """stdout's reader went away (`tracer report | head`): send the rest nowhere, silently."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
