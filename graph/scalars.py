"""Custom scalars of the API contract: `Long` (a JSON-safe 64-bit integer)."""

from __future__ import annotations

from typing import NewType

import strawberry

MAX_SAFE_INTEGER = 2**53 - 1


def _parse_long(value: object) -> int:
    """Accept only integers within ±(2^53 - 1); anything else is a client error."""
    if isinstance(value, bool) or not isinstance(value, int):
        msg = "Long must be an integer"
        raise ValueError(msg)
    if abs(value) > MAX_SAFE_INTEGER:
        msg = "Long must be within ±(2^53 - 1)"
        raise ValueError(msg)
    return value


def _serialize_long(value: int) -> int:
    return _parse_long(value)


Long = strawberry.scalar(
    NewType("Long", int),
    name="Long",
    description="A 64-bit integer serialized as a JSON number, limited to ±(2^53 - 1).",
    serialize=_serialize_long,
    parse_value=_parse_long,
)
