"""Per-operation bookkeeping: the access log and metrics, and the response's own extensions.

One extension, so Strawberry wraps one `on_operation` hook per operation for all of it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.types.execution import PreExecutionError

from core.context import current_request_id
from graph.context import Context
from graph.errors import response_extensions


def outcome_of(result: object) -> str:
    """`success`, `error` (field errors beside data) or `rejected` (nothing executed)."""
    errors = getattr(result, "errors", None)
    if not errors:
        return "success"
    return "rejected" if isinstance(result, PreExecutionError) else "error"


class OperationObserver(SchemaExtension):
    """Feeds the access log line and the operation metrics; stamps every response."""

    def on_operation(self) -> Iterator[None]:
        """Time the operation and record what it was and how it ended."""
        started = time.perf_counter()
        yield
        context = self.execution_context.context
        if not isinstance(context, Context):  # pragma: no cover - schema misuse
            return
        name = self.execution_context.operation_name
        try:
            kind = self.execution_context.operation_type.value
        except RuntimeError:
            kind = "unknown"
        outcome = outcome_of(self.execution_context.result)
        info = context.request_info
        info.operation_name, info.operation_type, info.outcome = name, kind, outcome
        context.metrics.observe_operation(name, kind, outcome, time.perf_counter() - started)

    def get_results(self) -> dict[str, Any]:
        """`requestId` and `timestamp` (UTC) for every response's `extensions`."""
        return response_extensions(current_request_id())
