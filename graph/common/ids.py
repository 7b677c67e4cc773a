"""Global ids: decoding them, and the row ids inside them."""

from __future__ import annotations

import re
import uuid

import strawberry
from strawberry import relay
from strawberry.relay.types import GlobalIDValueError

from db.errors import BadRequest, NotFound


def parse_global_id(value: str, field: str = "id") -> relay.GlobalID:
    """Decode an opaque global id, or fail with BAD_REQUEST naming the argument."""
    try:
        return relay.GlobalID.from_id(value)
    except GlobalIDValueError:
        msg = f"`{field}` is not a valid ID"
        raise BadRequest(msg, field=[field]) from None


def parse_uuid(value: str) -> uuid.UUID | None:
    """The UUID inside a node id, or None when it is not one."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


def not_found(type_name: str, field: list[str]) -> NotFound:
    """NOT_FOUND for an object of `type_name` ("AccountHolder" reads "No such account holder.")."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", type_name).lower()
    return NotFound(f"No such {words}.", field=field)


def node_uuid(value: strawberry.ID, type_name: str, field: list[str]) -> uuid.UUID:
    """The row id inside a global id of `type_name`; NOT_FOUND for any other id."""
    global_id = parse_global_id(value, field[-1])
    row_id = parse_uuid(global_id.node_id) if global_id.type_name == type_name else None
    if row_id is None:
        raise not_found(type_name, field)
    return row_id
