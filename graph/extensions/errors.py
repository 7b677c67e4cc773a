"""Shapes every top-level error into the API.md model; masks and logs unexpected ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from core.context import current_request_id
from core.logging import get_logger
from graph.errors import classify, response_extensions, shape_error

log = get_logger(__name__)


class ErrorShapingExtension(SchemaExtension):
    """Adds code, status and request id to errors; hides internals of unexpected exceptions."""

    def on_operation(self) -> Iterator[None]:
        """Rewrite the result's errors once the operation has finished."""
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        request_id = current_request_id()
        result.errors = [self._shape(error, request_id) for error in result.errors]

    def _shape(self, error: GraphQLError, request_id: str | None) -> GraphQLError:
        _, unexpected = classify(error)
        if unexpected:
            log.error(
                "graphql_unexpected_error",
                path=error.path,
                operation=self.execution_context.operation_name,
                exc_info=error.original_error,
            )
        return shape_error(error, request_id)

    def get_results(self) -> dict[str, Any]:
        """`extensions.requestId` and `extensions.timestamp` on every response."""
        return response_extensions(current_request_id())
