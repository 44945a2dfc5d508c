"""Whole numbers from outside (URL parts, query and form fields), in one place.

A database id is a signed 64-bit integer: a number beyond it cannot name a row, and handing it to
the database fails (SQLite: OverflowError; PostgreSQL: "value out of range"), which used to answer
500. Everything parsed here is a plain ASCII number inside that range, or nothing:

- `int` in a URL rule is `Int64Converter` (create_app swaps it in): out of range is a 404;
- `request.args/form.get(name, type=int)` go through `BoundedMultiDict`: out of range is the default;
- code reading numbers by hand calls `as_id` / `as_int`.
"""
from __future__ import annotations

from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import IntegerConverter, ValidationError

INT64_MAX = 2**63 - 1


def as_int(raw, default: int | None = None) -> int | None:
    """A non-negative ASCII whole number within 64 bits, else `default` (never raises)."""
    text = str(raw).strip() if raw is not None else ""
    if not text or not text.isascii() or not text.isdigit() or len(text) > 19:
        return default
    value = int(text)
    return value if value <= INT64_MAX else default


def as_id(raw) -> int | None:
    """A row id (1 .. 2**63-1) or None."""
    value = as_int(raw)
    return value if value else None


def int64(raw) -> int:
    """`type=` for MultiDict.get: raises ValueError (so the default is used) outside 64 bits."""
    text = str(raw).strip()
    negative = text.startswith("-")
    value = as_int(text[1:] if negative else text)
    if value is None:
        raise ValueError("not a 64-bit integer")
    return -value if negative else value


class Int64Converter(IntegerConverter):
    """`<int:...>` in URL rules, bounded to what a database id can hold (beyond it: 404)."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > INT64_MAX:
            raise ValidationError()
        return number


class BoundedMultiDict(ImmutableMultiDict):
    """Query and form fields whose `get(..., type=int)` stays within 64 bits."""

    def get(self, key, default=None, type=None):  # noqa: A002  (werkzeug's own signature)
        if type is int:
            type = int64
        return super().get(key, default=default, type=type)
