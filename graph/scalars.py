"""Custom scalars of the API contract: `Long` (a JSON-safe 64-bit integer) and `DateTime`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from db.errors import ValidationFailed

MAX_SAFE_INTEGER = 2**53 - 1

Long = NewType("Long", int)
"""An integer in ±(2^53 - 1): amounts in minor units, sequences."""


def _check_long(value: object) -> str | None:
    """Why `value` is not a Long, or None when it is one."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "Long must be an integer"
    if abs(value) > MAX_SAFE_INTEGER:
        return "Long must be within ±(2^53 - 1)"
    return None


def _parse_long(value: object) -> Long:
    """Accept only integers within ±(2^53 - 1); anything else is VALIDATION_FAILED.

    Long carries amounts, and a fractional, overflowing or non-numeric amount is a rejected
    input value (VALIDATION_FAILED), not a malformed request.
    """
    problem = _check_long(value)
    if problem is not None:
        raise ValidationFailed(problem)  # graphql-core keeps it as the error's original_error
    return Long(value)  # type: ignore[arg-type]


def _serialize_long(value: object) -> Long:
    """Refuse to send an integer a JSON client cannot hold exactly (a server bug)."""
    problem = _check_long(value)
    if problem is not None:
        raise ValueError(problem)
    return Long(value)  # type: ignore[arg-type]


LONG_DEFINITION = strawberry.scalar(
    name="Long",
    description="A 64-bit integer serialized as a JSON number, limited to ±(2^53 - 1).",
    serialize=_serialize_long,
    parse_value=_parse_long,
)


def _serialize_datetime(value: datetime) -> str:
    """ISO 8601 in UTC; stored values without an offset are UTC already."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _parse_datetime(value: object) -> datetime:
    """Accept only ISO 8601 with an offset: a time without one is ambiguous for money."""
    if not isinstance(value, str):
        msg = "DateTime must be an ISO 8601 string"
        raise ValueError(msg)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        msg = "DateTime must be ISO 8601, e.g. 2026-01-31T12:00:00Z"
        raise ValueError(msg) from None
    if parsed.tzinfo is None:
        msg = "DateTime needs an offset, e.g. 2026-01-31T12:00:00Z"
        raise ValueError(msg)
    return parsed.astimezone(UTC)


DATETIME_DEFINITION = strawberry.scalar(
    name="DateTime",
    description="A date and time in ISO 8601 with an offset; always UTC on output.",
    serialize=_serialize_datetime,
    parse_value=_parse_datetime,
)

SCALAR_MAP: dict[object, ScalarDefinition] = {Long: LONG_DEFINITION, datetime: DATETIME_DEFINITION}
"""Python types to their GraphQL scalar definitions, for StrawberryConfig.scalar_map."""
