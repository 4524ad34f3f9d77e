"""strace's `-e trace=NAME,...`: which syscalls a list names (`write,brk`, or `!write` for every
syscall but those); names or numbers. Pure names-to-numbers (the event filter that applies it
is `tracer.event_filter.only_syscalls`).
"""

from __future__ import annotations

from tracer.decode.syscall_table import SYSCALLS, syscall_number


class TraceSpecError(ValueError):
    """A `--trace` list that names no known syscall, or an empty one."""


def parse_trace_spec(spec: str) -> frozenset[int]:
    """`write,brk` -> their numbers; `!write` -> every known syscall but write."""
    text = spec.strip()
    negate = text.startswith("!")
    names = [name.strip() for name in text.removeprefix("!").split(",") if name.strip()]
    if not names:
        raise TraceSpecError(f"--trace={spec}: name at least one syscall (e.g. write,brk)")
    numbers = set()
    for name in names:
        nr = int(name) if name.isdigit() else syscall_number(name)
        if nr is None:
            raise TraceSpecError(f"--trace: unknown syscall {name!r}")
        numbers.add(nr)
    return frozenset(set(SYSCALLS) - numbers) if negate else frozenset(numbers)


__all__ = ["TraceSpecError", "parse_trace_spec"]
