"""SQL for a filtered view of the `events` table, always walked in seq order through an index.

Several kinds become a UNION ALL of one arm per kind: SQLite merges arms that are each
already in seq order (the (kind, seq) index), so `LIMIT` stops early instead of sorting every
match, which `kind IN (...)` would do. With a CPU or pid as well, SQLite would walk that
column's index and test each row's kind; for a rare kind (`rare_kinds`, known from the
writer's counts) walking the kind's own index visits far fewer rows, so the arm says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracer.store.codec import COLUMNS, column_int

ROW_COLUMNS = ", ".join(COLUMNS)

_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1


def clamp64(value: int) -> int:
    """`value` moved into SQLite's integer range (for bounds, where clamping keeps meaning)."""
    return min(max(value, _I64_MIN), _I64_MAX)


@dataclass(frozen=True, slots=True)
class SqlView:
    """Rows matching `kinds` (None: all) and `conds`, with seq in [seq_lo, seq_hi)."""

    kinds: tuple[str, ...] | None = None
    conds: tuple[str, ...] = ()
    params: tuple[Any, ...] = ()
    seq_lo: int | None = None
    seq_hi: int | None = None
    rare_kinds: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        kinds: frozenset[str] | None,
        cpu: int | None,
        pid: int | None,
        time_range: tuple[int, int] | None,
        seq_range: tuple[int | None, int | None] | None = None,
        rare_kinds: frozenset[str] = frozenset(),
    ) -> SqlView:
        """`seq_range`, when given, replaces the time conditions (times ordered along seq)."""
        conds: list[str] = []
        params: list[Any] = []
        for name, value in (("cpu", cpu), ("pid", pid)):
            if value is not None:
                stored = column_int(value)
                conds.append(f"{name} = ?" if stored is not None else "0")
                params.extend([stored] if stored is not None else [])
        seq_lo = seq_hi = None
        if seq_range is not None:
            seq_lo, seq_hi = seq_range
        elif time_range is not None:
            conds.append("time_ns >= ? AND time_ns < ?")
            params.extend(clamp64(bound) for bound in time_range)
        return cls(
            None if kinds is None else tuple(sorted(kinds)),
            tuple(conds),
            tuple(params),
            seq_lo,
            seq_hi,
            rare_kinds,
        )

    @property
    def empty(self) -> bool:
        return self.kinds == () or (
            self.seq_lo is not None and self.seq_hi is not None and self.seq_lo >= self.seq_hi
        )

    def select(
        self,
        columns: str,
        from_seq: int | None = None,
        to_seq: int | None = None,
        limit: int = -1,
        offset: int = 0,
        descending: bool = False,
    ) -> tuple[str, list[Any]]:
        """Rows with seq in [from_seq, to_seq) in seq order (the last first when `descending`);
        `columns` must include seq."""
        arms: list[str] = []
        params: list[Any] = []
        for kind in self.kinds or (None,):
            where, arm_params = self._where(kind, from_seq, to_seq)
            arms.append(f"SELECT {columns} FROM {self._table(kind)} WHERE {where}")
            params.extend(arm_params)
        order = "DESC" if descending else ""
        sql = " UNION ALL ".join(arms) + f" ORDER BY seq {order} LIMIT ? OFFSET ?"
        return sql, [*params, limit, offset]

    def count(self, from_seq: int | None = None, to_seq: int | None = None) -> tuple[str, list]:
        where, params = self._where(None, from_seq, to_seq)
        if self.kinds is not None:
            marks = ", ".join("?" * len(self.kinds))
            where = f"kind IN ({marks}) AND {where}"
            params = [*self.kinds, *params]
        rare = bool(self.kinds) and set(self.kinds or ()) <= self.rare_kinds
        table = self._table(self.kinds[0]) if rare and self.kinds else "events"
        return f"SELECT count(*) FROM {table} WHERE {where}", params

    def _table(self, kind: str | None) -> str:
        if self.conds and kind in self.rare_kinds:
            return "events INDEXED BY events_kind"
        return "events"

    def _where(
        self, kind: str | None, from_seq: int | None, to_seq: int | None
    ) -> tuple[str, list[Any]]:
        conds = list(self.conds)
        params = list(self.params)
        if kind is not None:
            conds.insert(0, "kind = ?")
            params.insert(0, kind)
        low = _max_bound(self.seq_lo, from_seq)
        high = _min_bound(self.seq_hi, to_seq)
        if low is not None:
            conds.append("seq >= ?")
            params.append(clamp64(low))
        if high is not None:
            conds.append("seq < ?")
            params.append(clamp64(high))
        return " AND ".join(conds) or "1", params


def _max_bound(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _min_bound(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)
