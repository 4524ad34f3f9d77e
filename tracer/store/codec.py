"""One event <-> one row of the `events` table, driven by the dataclass fields and their types.

A few fields get their own indexed column (seq, time_ns, cpu, pid, and `nr` or `msr` as `nr`);
every other field goes into `payload`, a JSON object keyed by field name. Field values equal to
the field's default are left out, bytes are base64, enums are their value, nested dataclasses
are objects. SQLite integers are signed 64-bit: a column value outside that range is stored
two's-complement (u64) or NULL and its exact value is kept in the payload as well.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import types
import typing
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, Literal, TypeAlias, Union

from tracer.events import EVENT_TYPES, Event

COLUMNS = ("seq", "time_ns", "kind", "cpu", "pid", "nr", "summary", "payload")
Row: TypeAlias = tuple[int, int | None, str, int | None, int | None, int | None, str | None, str]

_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_U64_END = 1 << 64
_NR_FIELDS = ("nr", "msr")
_MISSING: Any = dataclasses.MISSING

Convert: TypeAlias = Callable[[Any], Any] | None
"""None means the value is already what JSON holds (and decodes back to itself)."""


def _compact_encoder() -> Callable[[Any], str]:
    """JSON without spaces, as `JSONEncoder(separators=(",", ":")).encode` writes it, with
    CPython's C encoder made once: `encode` makes one a call (2 of a base change's 5 us)."""
    encoder = json.JSONEncoder(separators=(",", ":"), check_circular=False)
    make: Any = getattr(json.encoder, "c_make_encoder", None)  # not public: checked here
    try:
        chunks = make(
            None, encoder.default, json.encoder.encode_basestring_ascii, None, ":", ",",
            False, False, True,
        )  # fmt: skip

        def fast(obj: Any) -> str:
            return "".join(chunks(obj, 0))

        sample = {"a": [1 << 64, -1, None, True, "\u00e9\n"], "b": {"c": 0.5}}
        if fast(sample) == encoder.encode(sample):
            return fast
    except TypeError:  # no C encoder (None), or one that takes other arguments
        pass
    return encoder.encode


_dumps = _compact_encoder()


class CodecError(ValueError):
    """A row that does not decode to an event (unknown kind, malformed payload)."""


def column_int(value: int | None) -> int | None:
    """The value an integer column holds for `value` (what filters must compare against)."""
    if value is None or _I64_MIN <= value <= _I64_MAX:
        return value
    if 0 <= value < _U64_END:
        return value - _U64_END
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    name: str
    encode: Convert
    decode: Convert
    default: Any


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    cls: type
    kind: str
    columns: tuple[tuple[str, int], ...]  # (field name, index in the row), after seq
    fields: tuple[_Field, ...]  # the payload's fields


def encode(event: Event) -> Row:
    """The `events` row for `event` (summary left NULL)."""
    plan = _PLANS_BY_CLASS.get(type(event))
    if plan is None:
        raise TypeError(f"not an event: {type(event).__name__}")
    seq = event.seq
    if not isinstance(seq, int) or not 0 <= seq <= _I64_MAX:
        raise ValueError(f"event seq must be an int in [0, 2**63): {seq!r}")
    payload = _encode_fields(plan.fields, event)
    row: list[Any] = [seq, None, plan.kind, None, None, None, None, None]
    for name, index in plan.columns:
        value = getattr(event, name)
        stored = column_int(value)
        row[index] = stored
        if stored != value:
            payload[name] = value
    row[7] = _dumps(payload)
    return tuple(row)  # type: ignore[return-value]


def decode(row: Sequence[Any]) -> Event:
    """The event stored in `row` (columns in COLUMNS order)."""
    plan = _PLANS_BY_KIND.get(row[2])
    if plan is None:
        raise CodecError(f"unknown event kind {row[2]!r} at seq {row[0]}; upgrade tracer")
    try:
        data = json.loads(row[7])
        if not isinstance(data, dict):
            raise CodecError("payload is not an object")
        kwargs = _decode_fields(plan.fields, data)
        kwargs["seq"] = row[0]
        for name, index in plan.columns:
            kwargs[name] = data[name] if name in data else row[index]
        return plan.cls(**kwargs)  # type: ignore[no-any-return]
    except (TypeError, ValueError, KeyError, binascii.Error) as exc:
        raise CodecError(f"malformed {row[2]} event at seq {row[0]}: {exc}") from exc


def _encode_fields(fields: tuple[_Field, ...], obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in fields:
        value = getattr(obj, field.name)
        if field.default is not _MISSING and value == field.default:
            continue
        out[field.name] = value if field.encode is None else field.encode(value)
    return out


def _decode_fields(fields: tuple[_Field, ...], data: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for field in fields:
        if field.name in data:
            value = data[field.name]
            kwargs[field.name] = value if field.decode is None else field.decode(value)
        elif field.default is _MISSING:
            raise KeyError(field.name)
    return kwargs


def _fields_of(cls: type, skip: frozenset[str] = frozenset()) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for field in dataclasses.fields(cls):
        if not field.init or field.name in skip:
            continue  # init=False fields (an event's `kind`) are derived, not stored
        enc, dec = _converter(hints[field.name])
        default: Any = field.default
        factory: Any = field.default_factory
        if factory is not _MISSING:
            default = factory()
        out.append(_Field(field.name, enc, dec, default))
    return tuple(out)


def _is_int_type(tp: Any) -> bool:
    return tp is int or _union_args(tp) in ((int, types.NoneType), (types.NoneType, int))


def _plan_for(kind: str, cls: type) -> _Plan:
    hints = typing.get_type_hints(cls)
    names = {field.name for field in dataclasses.fields(cls) if field.init}
    if "seq" not in names or "time_ns" not in names:
        raise TypeError(f"{cls.__name__} needs seq and time_ns fields")
    columns = [("time_ns", 1)]
    for name, index in (("cpu", 3), ("pid", 4)):
        if name in names and _is_int_type(hints[name]):
            columns.append((name, index))
    nr = next((n for n in _NR_FIELDS if n in names and _is_int_type(hints[n])), None)
    if nr is not None:
        columns.append((nr, 5))
    skip = frozenset(name for name, _ in columns) | {"seq"}
    return _Plan(cls, kind, tuple(columns), _fields_of(cls, skip))


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return typing.get_args(tp)
    return None


_IDENTITY_TYPES = (int, str, float, bool, types.NoneType)


def _converter(tp: Any) -> tuple[Convert, Convert]:
    """(encode, decode) between a value of type `tp` and what JSON holds."""
    if tp in _IDENTITY_TYPES:
        return None, None
    if tp is bytes:
        return _b64encode, _b64decode
    if isinstance(tp, type) and issubclass(tp, Enum):
        return (lambda value: value.value), tp
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_converter(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal and all(type(arg) in _IDENTITY_TYPES for arg in args):
        return None, None
    if origin in (Union, types.UnionType):
        return _union_converter(tp, args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _varlen_tuple_converter(args[0])
        return _fixed_tuple_converter(args)
    raise TypeError(f"no codec for event field type {tp!r}")


def _b64encode(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _dataclass_converter(cls: type) -> tuple[Convert, Convert]:
    fields = _fields_of(cls)
    return (
        lambda value: _encode_fields(fields, value),
        lambda data: cls(**_decode_fields(fields, data)),
    )


def _union_converter(tp: Any, args: tuple[Any, ...]) -> tuple[Convert, Convert]:
    arms = [arg for arg in args if arg is not types.NoneType]
    if len(arms) == 1:
        enc, dec = _converter(arms[0])
        return (
            None if enc is None else (lambda v: None if v is None else enc(v)),
            None if dec is None else (lambda v: None if v is None else dec(v)),
        )
    if all(_converter(arm) == (None, None) for arm in arms):
        return None, None  # JSON tells int, str, float and bool apart by itself
    raise TypeError(f"no codec for event field type {tp!r}: ambiguous union")


def _varlen_tuple_converter(item: Any) -> tuple[Convert, Convert]:
    enc, dec = _converter(item)
    return (
        None if enc is None else (lambda v: [enc(x) for x in v]),
        tuple if dec is None else (lambda v: tuple(map(dec, v))),
    )


def _fixed_tuple_converter(items: tuple[Any, ...]) -> tuple[Convert, Convert]:
    if items == ((),):  # tuple[()]
        return None, tuple
    convs = [_converter(item) for item in items]
    if all(enc is None for enc, _ in convs):
        enc_all: Convert = None
    else:
        encs = [enc for enc, _ in convs]
        enc_all = lambda v: [x if e is None else e(x) for e, x in zip(encs, v, strict=True)]  # noqa: E731
    if all(dec is None for _, dec in convs):
        return enc_all, tuple
    decs = [dec for _, dec in convs]
    return enc_all, lambda v: tuple(x if d is None else d(x) for d, x in zip(decs, v, strict=True))


_PLANS_BY_KIND: dict[str, _Plan] = {
    kind.value: _plan_for(kind.value, cls) for kind, cls in EVENT_TYPES.items()
}
_PLANS_BY_CLASS: dict[type, _Plan] = {plan.cls: plan for plan in _PLANS_BY_KIND.values()}
