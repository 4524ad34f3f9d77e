"""The tracer's cache directory, and small JSON answers kept there under a key made from the
files they were read from (what the tracer learned once from a big kernel, not learned again)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def cache_root() -> Path:
    """``$TRACER_CACHE`` or ``$XDG_CACHE_HOME/tracer`` or ``~/.cache/tracer``."""
    if os.environ.get("TRACER_CACHE"):
        return Path(os.environ["TRACER_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "tracer"


def files_key(*paths: Path | None, version: int = 1) -> str | None:
    """A key that changes when any of the files does (its place, size or modification time);
    None when one cannot be read."""
    digest = hashlib.sha1(f"v{version}".encode())
    for path in paths:
        if path is None:
            digest.update(b"-")
            continue
        try:
            real = path.resolve()
            stat = real.stat()
        except OSError:
            return None
        digest.update(f"{real}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def load_answer(kind: str, key: str) -> Any:
    """The JSON kept under `kind/key`, or None (absent or damaged: ask again)."""
    try:
        return json.loads((cache_root() / kind / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None


def save_answer(kind: str, key: str, answer: Any) -> None:
    """Keep `answer` under `kind/key`, whole or not at all; a cache that cannot be written
    only costs the next run the time."""
    directory = cache_root() / kind
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=directory, prefix=f".{key}.")
        with os.fdopen(fd, "w") as out:
            json.dump(answer, out)
        os.replace(partial, directory / f"{key}.json")
    except OSError:
        pass
