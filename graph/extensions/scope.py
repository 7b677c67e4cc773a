"""Opens one unit of work and one set of loaders per operation (see graph/context.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension

from graph.context import Context, close_scope, open_scope


class OperationScopeExtension(SchemaExtension):
    """Gives each operation its own unit of work and loaders, and releases them at the end."""

    async def on_operation(self) -> AsyncIterator[None]:
        """Wrap the whole operation in a fresh scope."""
        context = self.execution_context.context
        if not isinstance(context, Context):  # pragma: no cover - schema misuse
            msg = "the schema must be executed with a graph.context.Context"
            raise TypeError(msg)
        scope, token = open_scope(context.database)
        try:
            yield
        finally:
            await close_scope(scope, token)
