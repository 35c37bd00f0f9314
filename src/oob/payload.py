"""Typed event details: what every kind of event in `oob.events` is built on.

An event's details are JSON in the store. Each kind's payload is a frozen dataclass with one
writer (`details`) and one reader (`read`, or `of` an event), so that nobody parses details by
hand, and details of another shape (a store written by another version, a hand-edited row)
read as None instead of raising. The reader checks the few shapes payloads use (text, numbers,
flags, times, lists, objects, optional ones) against the dataclass's own annotations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from datetime import datetime
from types import UnionType
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Self,
    dataclass_transform,
    get_args,
    get_origin,
    get_type_hints,
)

if TYPE_CHECKING:
    from oob.records import Event


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Payload:
    """The details of one kind of event, typed: a subclass names its kind
    (`class Approved(Payload, kind=...)`) and is made a frozen dataclass; a field whose key in
    the JSON differs from its name says so (`key` metadata).

    `details()` is the one writer of an event's details; `read()` the one reader, which
    gives None for details that are not this kind's shape (a store written by another
    version, a hand-edited row), so that no reader ever raises on them.
    """

    KIND: ClassVar[str] = ""
    KINDS: ClassVar[dict[str, type[Payload]]] = {}  # every payload with a kind, by kind

    def __init_subclass__(cls, kind: str = "", **rest: Any) -> None:
        super().__init_subclass__(**rest)
        dataclass(frozen=True)(cls)
        if kind:
            cls.KIND = kind
            Payload.KINDS[kind] = cls

    def details(self) -> dict[str, Any]:
        """The event's details (JSON)."""
        return {_key(f): _json(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def read(cls, details: Mapping[str, Any]) -> Self | None:
        """This payload from an event's details, or None if they do not have its shape."""
        values: dict[str, Any] = {}
        hints = _hints(cls)
        for f in fields(cls):  # type: ignore[arg-type]
            key = _key(f)
            if key not in details:
                if f.default is MISSING and f.default_factory is MISSING:
                    return None
                continue
            value = _typed(details[key], hints[f.name])
            if value is _WRONG:
                return None
            values[f.name] = value
        return cls(**values)

    @classmethod
    def of(cls, event: Event | None) -> Self | None:
        """This payload of `event`, if it is one of this kind with this shape."""
        if event is None or event.kind != cls.KIND:
            return None
        return cls.read(event.details)


_WRONG = object()


def _key(f: Field[Any]) -> str:
    return str(f.metadata.get("key", f.name))


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


def _typed(value: Any, hint: Any) -> Any:  # noqa: PLR0911 - one answer per shape
    """`value` as `hint` says (the few shapes payloads use), or _WRONG."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is UnionType:
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        return _typed(value, hint)
    if hint is Any:
        return value
    if hint is datetime:
        try:
            return datetime.fromisoformat(value) if isinstance(value, str) else _WRONG
        except ValueError:
            return _WRONG
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else _WRONG
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _WRONG
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return _WRONG
        items = [_typed(v, args[0]) for v in value]
        return _WRONG if _WRONG in items else tuple(items)
    if origin is dict:
        return dict(value) if isinstance(value, dict) else _WRONG
    return value if isinstance(value, hint) else _WRONG
