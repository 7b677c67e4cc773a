"""The gate between a valid document and its execution: cost, caller, budget, cached answer.

One extension runs the four steps in order, in one hook per operation (each of them used to be
an extension of its own, with a hook of its own):

1. the static query cost (graph/extensions/cost.py): no SQL, so a document refused for its
   cost is not even authenticated;
2. authentication (graph/extensions/authentication.py): the caller, or the refusal of its
   token, and the caller's data version, stored on the operation scope;
3. the caller's cost budget, which is charged even for a cached answer;
4. the response cache (graph/extensions/response_cache.py): a hit sets the result, so nothing
   executes; a miss executes and its answer is stored afterwards.

A refusal at any step is the operation's only result, and the later steps do not run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension

from db.errors import AppError
from graph.context import Context, current_scope
from graph.extensions.authentication import authenticate_operation
from graph.extensions.cost import charge_budget, check_cost
from graph.extensions.refusal import refuse_operation
from graph.extensions.response_cache import ResponseCaching


class OperationGate(SchemaExtension):
    """Cost, authentication, budget and the response cache, before execution, in that order."""

    def __init__(self, *, caching: ResponseCaching | None = None) -> None:
        self.caching = caching

    async def on_execute(self) -> AsyncIterator[None]:
        """Refuse, answer from the cache, or let the operation execute (and cache its answer)."""
        execution = self.execution_context
        context = execution.context
        if not isinstance(context, Context):  # pragma: no cover - schema misuse
            msg = "the schema must be executed with a graph.context.Context"
            raise TypeError(msg)
        try:
            check_cost(execution)
            await authenticate_operation(context, current_scope())
            await charge_budget(execution)
        except AppError as error:
            refuse_operation(execution, error)
            yield
            return
        key = self.caching.answer(execution) if self.caching is not None else None
        if key is None or self.caching is None:
            yield
            return
        queued_before = len(current_scope().audit_queue)
        yield
        self.caching.store(execution, key, queued_before)
