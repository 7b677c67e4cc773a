"""Error shaping for every result (the request id and timestamp: graph/extensions/observe.py)."""

from __future__ import annotations

from graphql import GraphQLError

from core.context import current_request_id
from core.logging import get_logger
from graph.errors import classify, shape_error

log = get_logger(__name__)


def shape_errors(errors: list[GraphQLError], operation_name: str | None) -> None:
    """Rewrite a result's errors in place into the API's error model; log, mask the unexpected.

    Called from `LedgerSchema.process_errors`, which Strawberry invokes once for every result
    with errors (queries, mutations, subscription events, pre-execution failures) on the very
    list it then returns, before any transport serializes it.
    """
    request_id = current_request_id()
    for index, error in enumerate(errors):
        if error.extensions and "code" in error.extensions:
            continue  # already shaped
        _, unexpected = classify(error)
        if unexpected:
            log.error(
                "graphql_unexpected_error",
                path=error.path,
                operation=operation_name,
                exc_info=error.original_error,
            )
        errors[index] = shape_error(error, request_id)
