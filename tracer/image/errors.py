"""The one error the image layer raises: a binary the tracer cannot use, said in one line."""

from __future__ import annotations

from pathlib import Path


class ImageError(Exception):
    """A kernel or program file the tracer cannot use; `str()` is a one-line user message."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def read_input(path: Path, what: str) -> bytes:
    """A kernel, program or symbol file's bytes, or an ImageError saying in one line why not;
    `what` names what the file should be ("an ELF file", "a symbol file")."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageError(path, "no such file") from None
    except IsADirectoryError:
        raise ImageError(path, f"is a directory, not {what}") from None
    except OSError as exc:
        raise ImageError(path, f"cannot read: {exc.strerror or exc}") from None
