"""What the timeline shows: a filter the user types, and the matcher for text search.

The filter language, one word per condition (all must hold):

    kind:syscall,segbase   pid:1   cpu:0   sys:write,openat   /regex/   plain words

`trace=write,openat` (strace's `-e trace=`) is `sys:write,openat`; `sys:!write` (or
`trace=!write`) keeps every syscall but write.

Inferred swapgs changes (the GS_BASE/KERNEL_GS_BASE exchange of every crossing, reconstructed
from the entry path) fold into the crossing they belong to; `+swapgs` shows them as rows.

Plain words match the row's text case-insensitively; `/.../` is a regular expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tracer.decode.strace import syscall_name
from tracer.events import EventKind

SYSCALL_KINDS = frozenset({EventKind.SYSCALL_ENTRY.value, EventKind.SYSCALL_EXIT.value})
KIND_ALIASES: dict[str, frozenset[str]] = {
    "syscall": SYSCALL_KINDS,
    "sys": SYSCALL_KINDS,
    "entry": frozenset({EventKind.SYSCALL_ENTRY.value}),
    "exit": frozenset({EventKind.SYSCALL_EXIT.value}),
    "msr": frozenset({EventKind.MSR_WRITE.value, EventKind.MSR_READ.value}),
    "wrmsr": frozenset({EventKind.MSR_WRITE.value}),
    "rdmsr": frozenset({EventKind.MSR_READ.value}),
    "seg": frozenset({EventKind.SEGBASE.value}),
    "tls": frozenset({EventKind.SEGBASE.value, EventKind.TLS_SNAPSHOT.value}),
    "switch": frozenset({EventKind.CONTEXT_SWITCH.value}),
    "irq": frozenset({EventKind.INTERRUPT.value}),
    "func": frozenset({EventKind.FUNC_ENTRY.value, EventKind.FUNC_EXIT.value}),
    **{kind.value: frozenset({kind.value}) for kind in EventKind},
}


SHOW_SWAPGS = "+swapgs"


class FilterError(ValueError):
    """A filter the user typed that does not parse; the message says which word."""


class TextMatcher:
    """Case-insensitive substring, or a regular expression written as /.../."""

    def __init__(self, pattern: str, regex: bool = False) -> None:
        self.pattern = pattern
        self.regex = regex
        try:
            self._compiled = re.compile(pattern if regex else re.escape(pattern), re.IGNORECASE)
        except re.error as exc:
            raise FilterError(f"bad regular expression /{pattern}/: {exc}") from None

    @classmethod
    def parse(cls, text: str) -> TextMatcher:
        text = text.strip()
        if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
            return cls(text[1:-1], regex=True)
        return cls(text)

    def matches(self, line: str) -> bool:
        return self._compiled.search(line) is not None

    def __str__(self) -> str:
        return f"/{self.pattern}/" if self.regex else self.pattern


@dataclass(frozen=True, slots=True)
class ViewFilter:
    """Store-side conditions (kinds, cpu, pid) plus ones a scan must test (syscalls, text)."""

    kinds: frozenset[str] | None = None
    cpu: int | None = None
    pid: int | None = None
    syscalls: frozenset[int] | None = None
    text: str = ""
    regex: bool = False
    show_swapgs: bool = False  # False: inferred swapgs rows fold into their crossing

    @property
    def is_everything(self) -> bool:
        return self.replace(show_swapgs=True) == ViewFilter(show_swapgs=True)

    @property
    def folds_swapgs(self) -> bool:
        """Whether rows must be left out for folding (only where segbase rows are shown)."""
        if self.show_swapgs or self.syscalls is not None:
            return False
        return self.kinds is None or EventKind.SEGBASE.value in self.kinds

    @property
    def needs_scan(self) -> bool:
        return self.syscalls is not None or bool(self.text) or self.folds_swapgs

    def store_kinds(self) -> frozenset[str] | None:
        if self.syscalls is None:
            return self.kinds
        return SYSCALL_KINDS if self.kinds is None else self.kinds & SYSCALL_KINDS

    def store_query(self) -> dict[str, object]:
        """Keyword arguments for `TraceSource.page/count/events/index_of`."""
        return {"kinds": self.store_kinds(), "cpu": self.cpu, "pid": self.pid}

    def matcher(self) -> TextMatcher | None:
        return TextMatcher(self.text, self.regex) if self.text else None

    def describe(self) -> str:
        words = []
        if self.kinds is not None:
            words.append("kind:" + ",".join(sorted(self.kinds)))
        if self.pid is not None:
            words.append(f"pid:{self.pid}")
        if self.cpu is not None:
            words.append(f"cpu:{self.cpu}")
        if self.syscalls is not None:
            words.append("sys:" + _describe_syscalls(self.syscalls))
        if self.show_swapgs:
            words.append(SHOW_SWAPGS)
        if self.text:
            words.append(f"/{self.text}/" if self.regex else self.text)
        return " ".join(words)

    def replace(self, **changes: object) -> ViewFilter:
        fields = {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]
        fields.update(changes)
        return ViewFilter(**fields)  # type: ignore[arg-type]


def next_cpu(cpus: list[int], current: int | None) -> int | None:
    """The CPU view after `current` in the cycle all -> first CPU -> ... -> last -> all."""
    later = [cpu for cpu in sorted(cpus) if current is None or cpu > current]
    return later[0] if later else None


def _describe_syscalls(chosen: frozenset[int]) -> str:
    from tracer.decode.syscall_table import SYSCALLS

    left_out = set(SYSCALLS) - chosen
    if len(left_out) < len(chosen) and chosen <= set(SYSCALLS):
        return "!" + ",".join(sorted(syscall_name(nr) for nr in left_out))
    return ",".join(sorted(syscall_name(nr) for nr in chosen))


def parse_filter(spec: str) -> ViewFilter:
    """`kind:... pid:N cpu:N sys:a,b /re/ words` -> ViewFilter; an empty spec shows everything."""
    from tracer.decode.strace_filter import TraceSpecError, parse_trace_spec

    kinds: set[str] | None = None
    cpu = pid = None
    syscalls: set[int] | None = None
    words: list[str] = []
    regex = ""
    spec = spec.strip()
    match = re.search(r"(?:^|\s)/(.*)/(?:\s|$)", spec)
    if match:
        regex = match.group(1)
        spec = (spec[: match.start()] + " " + spec[match.end() :]).strip()
    show_swapgs = False
    for word in spec.split():
        if word == SHOW_SWAPGS:
            show_swapgs = True
            continue
        if word.startswith("trace="):
            word = "sys:" + word.removeprefix("trace=")
        key, sep, value = word.partition(":")
        if not sep or key not in ("kind", "k", "pid", "p", "cpu", "c", "sys", "s"):
            words.append(word)
            continue
        if not value:
            raise FilterError(f"{word}: a value must follow the colon")
        if key in ("kind", "k"):
            kinds = kinds or set()
            for name in value.split(","):
                if name not in KIND_ALIASES:
                    known = ", ".join(sorted(KIND_ALIASES))
                    raise FilterError(f"unknown kind {name!r} (known: {known})")
                kinds |= KIND_ALIASES[name]
        elif key in ("sys", "s"):
            try:
                chosen = parse_trace_spec(value)
            except TraceSpecError as exc:
                raise FilterError(str(exc).removeprefix("--trace: ")) from None
            syscalls = (syscalls or set()) | chosen
        else:
            try:
                number = int(value, 0)
            except ValueError:
                raise FilterError(f"{word}: {key} takes a number") from None
            if key in ("pid", "p"):
                pid = number
            else:
                cpu = number
    if regex and words:
        raise FilterError("use either /regex/ or plain words, not both")
    text, is_regex = (regex, True) if regex else (" ".join(words), False)
    if text:
        TextMatcher(text, is_regex)  # raises FilterError on a bad pattern
    return ViewFilter(
        kinds=frozenset(kinds) if kinds is not None else None,
        cpu=cpu,
        pid=pid,
        syscalls=frozenset(syscalls) if syscalls is not None else None,
        text=text,
        regex=is_regex,
        show_swapgs=show_swapgs,
    )
