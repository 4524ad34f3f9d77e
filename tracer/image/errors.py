"""The one error the image layer raises: a binary the tracer cannot use, said in one line."""

from __future__ import annotations

from pathlib import Path


class ImageError(Exception):
    """A kernel or program file the tracer cannot use; `str()` is a one-line user message."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
