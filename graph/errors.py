"""The error model (docs/api.md): error codes, field paths and top-level error shaping."""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.utils.str_converters import to_camel_case

from db.base import utcnow
from db.errors import AppError, RetryLater, Unavailable
from db.outages import as_unavailable


@strawberry.enum(description="Stable, machine-readable error codes.")
class ErrorCode(Enum):
    """Every error code a client may see, in payloads or in top-level errors."""

    BAD_REQUEST = "BAD_REQUEST"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL = "INTERNAL"
    VALIDATION_FAILED = "VALIDATION_FAILED"
    WEAK_PASSWORD = "WEAK_PASSWORD"  # noqa: S105 - an error code, not a password
    CONFLICT = "CONFLICT"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    BALANCE_LIMIT_EXCEEDED = "BALANCE_LIMIT_EXCEEDED"
    ACCOUNT_NOT_ACTIVE = "ACCOUNT_NOT_ACTIVE"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    UNAVAILABLE = "UNAVAILABLE"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.ACCOUNT_LOCKED: 423,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.VALIDATION_FAILED: 422,
    ErrorCode.WEAK_PASSWORD: 422,
    ErrorCode.CONFLICT: 409,
    ErrorCode.INSUFFICIENT_FUNDS: 422,
    ErrorCode.BALANCE_LIMIT_EXCEEDED: 422,
    ErrorCode.ACCOUNT_NOT_ACTIVE: 422,
    ErrorCode.CURRENCY_MISMATCH: 422,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 409,
    ErrorCode.UNAVAILABLE: 503,
}

MULTIPLE_OPERATIONS = "Must provide operation name if query contains multiple operations."


class AmbiguousOperationError(RuntimeError):
    """The document defines several operations and the request names none of them."""


REQUEST_ERRORS = (CannotGetOperationTypeError, InvalidOperationTypeError, MissingQueryError)
INTERNAL_MESSAGE = "An unexpected error occurred. Quote the request id when reporting it."


def _domain_cause(error: GraphQLError) -> AppError | None:
    """The domain exception at the bottom of a chain of wrapped GraphQL errors, if any.

    A database outage that reached this far (e.g. raised outside a unit of work) counts as
    `Unavailable`.
    """
    cause: BaseException | None = error.original_error
    while isinstance(cause, GraphQLError):
        cause = cause.original_error
    if cause is None or isinstance(cause, AppError):
        return cause
    return as_unavailable(cause)


def classify(error: GraphQLError) -> tuple[ErrorCode, bool]:
    """The code for a top-level error, and whether it is unexpected (to be masked and logged)."""
    original = error.original_error
    if isinstance(original, AppError):
        return ErrorCode(original.code), False
    cause = _domain_cause(error)
    if cause is not None:  # e.g. a scalar refusing a variable, wrapped twice by graphql-core
        return ErrorCode(cause.code), False
    if (
        original is None
        or isinstance(error, GraphQLSyntaxError)
        or isinstance(original, REQUEST_ERRORS)  # no operation to run (e.g. over WebSocket)
    ):
        # Parse and validation errors come straight from graphql-core.
        return ErrorCode.BAD_REQUEST, False
    if error.path is None and (error.nodes or error.positions):
        # Variable coercion: the client's value was rejected by a scalar's parser.
        return ErrorCode.BAD_REQUEST, False
    if isinstance(original, GraphQLError):
        return classify(original)
    return ErrorCode.INTERNAL, True


INPUT_ECHOES = (  # graphql-core's wordings that quote a client's value, and what replaces them
    (re.compile(r"[,;.]?\s*[Ff]ound: .*", re.DOTALL), "."),
    (re.compile(r"(cannot represent[^:']*): .*", re.DOTALL), r"\1."),
    (re.compile(r"Value '.*' does not exist in '(\w+)' enum", re.DOTALL),
     r"Value does not exist in '\1' enum"),
)  # fmt: skip
LIBRARY_REASON = re.compile(r", but encountered error '.*'(?=\.$)", re.DOTALL)


def without_input_values(message: str, *, own_reason: bool = False) -> str:
    """A graphql-core message with the client's values cut out (names and reasons are kept).

    Variable and literal errors quote what was sent ("..., found: {password: ...}"), which
    would echo a password or token back into responses and logs. A scalar's explanation
    ("encountered error '...'") is kept only when it is our own wording (`own_reason`): a
    library's may quote the value.
    """
    for pattern, replacement in INPUT_ECHOES:
        message = pattern.sub(replacement, message)
    return message if own_reason else LIBRARY_REASON.sub("", message)


def field_path(field: str | list[str] | None, *, under: tuple[str, ...] = ()) -> list[str] | None:
    """The client's path to what a domain error names: `from_account_id` -> `fromAccountId`.

    Domain errors name fields in the domain's words; mutations take them `under` their `input`
    argument, queries as plain arguments. A list is already a path (a GraphQL-layer error).
    """
    if field is None or isinstance(field, list):
        return field
    return [*under, to_camel_case(field)]


def shape_error(error: GraphQLError, request_id: str | None) -> GraphQLError:
    """Return the client-facing form of an error: code, status and request id; no internals."""
    code, unexpected = classify(error)
    extensions: dict[str, Any] = {
        "code": code.value,
        "status": HTTP_STATUS[code],
        "requestId": request_id,
    }
    original = error.original_error
    # An outage raised as a driver error speaks with Unavailable's message, never the driver's.
    found = None if isinstance(original, AppError) else _domain_cause(error)
    outage = found if isinstance(found, Unavailable) else None
    cause = found or original
    if isinstance(cause, RetryLater):
        extensions["retryAfter"] = cause.retry_after
    if isinstance(cause, AppError) and cause.field:
        extensions["field"] = field_path(cause.field)
    if outage:
        message = outage.message
    elif unexpected:
        message = INTERNAL_MESSAGE
    elif isinstance(original, AppError):  # our own wording, wrapped by graphql-core for literals
        message = without_input_values(error.message, own_reason=True)
    elif isinstance(original, CannotGetOperationTypeError) and isinstance(
        original.__cause__, AmbiguousOperationError
    ):
        message = MULTIPLE_OPERATIONS
    else:
        message = without_input_values(error.message, own_reason=found is not None)
    return GraphQLError(
        message=message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


def error_document(
    code: ErrorCode, message: str, request_id: str | None, status: int | None = None
) -> dict[str, Any]:
    """A GraphQL response body carrying one top-level error, for failures outside execution."""
    return {
        "errors": [
            {
                "message": message,
                "extensions": {
                    "code": code.value,
                    "status": status or HTTP_STATUS[code],
                    "requestId": request_id,
                },
            }
        ],
        "extensions": response_extensions(request_id),
    }


def response_extensions(request_id: str | None) -> dict[str, Any]:
    """`requestId` and `timestamp`, present in every GraphQL response body."""
    return {"requestId": request_id, "timestamp": utcnow().isoformat().replace("+00:00", "Z")}
