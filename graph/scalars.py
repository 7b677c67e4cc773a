"""Custom scalars of the API contract: `Long` (a JSON-safe 64-bit integer)."""

from __future__ import annotations

from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

MAX_SAFE_INTEGER = 2**53 - 1

Long = NewType("Long", int)
"""An integer in ±(2^53 - 1): amounts in minor units, sequences."""


def _parse_long(value: object) -> Long:
    """Accept only integers within ±(2^53 - 1); anything else is a client error."""
    if isinstance(value, bool) or not isinstance(value, int):
        msg = "Long must be an integer"
        raise ValueError(msg)  # graphql-core turns ValueError into a variable coercion error
    if abs(value) > MAX_SAFE_INTEGER:
        msg = "Long must be within ±(2^53 - 1)"
        raise ValueError(msg)
    return Long(value)


LONG_DEFINITION = strawberry.scalar(
    name="Long",
    description="A 64-bit integer serialized as a JSON number, limited to ±(2^53 - 1).",
    serialize=_parse_long,
    parse_value=_parse_long,
)

SCALAR_MAP: dict[object, ScalarDefinition] = {Long: LONG_DEFINITION}
"""Python types to their GraphQL scalar definitions, for StrawberryConfig.scalar_map."""
