"""A progress line on stderr (events, rate, elapsed), shown only on a terminal."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from tracer.capture import CaptureStats

if TYPE_CHECKING:
    from rich.status import Status


class CaptureProgress:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._status: Status | None = None

    def __enter__(self) -> CaptureProgress:
        if self.enabled:
            from rich.console import Console

            self._status = Console(stderr=True).status("starting QEMU and gdb...")
            self._status.start()
        return self

    def update(self, stats: CaptureStats) -> None:
        if self._status is None:
            return
        self._status.update(progress_line(stats))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._status is not None:
            self._status.stop()


def progress_line(stats: CaptureStats) -> str:
    """Events so far; records whose events are built once the guest stops count apart."""
    if stats.held:
        rate = stats.records / stats.elapsed if stats.elapsed > 0 else 0.0
        return (
            f"{stats.records} records ({stats.events} events built, the rest when the guest "
            f"stops), {rate:.0f} records/s, {stats.elapsed:.1f} s"
        )
    rate = stats.events / stats.elapsed if stats.elapsed > 0 else 0.0
    return (
        f"{stats.events} events, {stats.syscalls} syscalls, {rate:.0f} events/s, "
        f"{stats.elapsed:.1f} s"
    )
