"""Opens one unit of work and one set of loaders per operation (see graph/context.py).

When the operation ends, the audit rows it queued are stored: sensitive reads, every
FORBIDDEN refusal, and with AUDIT_READS=all a READ row for each query of a signed-in caller.
They join a group commit shared with concurrent operations (db/audit/batch.py), and the
operation answers only once it committed: when it failed, the answer is UNAVAILABLE instead of
data whose reading went unrecorded. Over HTTP this runs before Strawberry returns the result;
over a WebSocket, where a query's or mutation's result is sent from inside the operation, it
runs as the result is about to be sent. Either way no answer leaves before its rows are stored.
A subscription's rows are stored when it ends: storing them with each event would append audit
rows that `auditEvents` delivers as new events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from core.settings import AuditReads
from db.audit.entries import AuditEntry
from db.errors import Forbidden, Unavailable
from db.models import AuditAction, AuditStatus
from graph.context import Context, OperationScope, close_scope, open_scope
from graph.errors import ErrorCode
from graph.extensions.errors import shape_errors


class OperationScopeExtension(SchemaExtension):
    """Gives each operation its own unit of work and loaders, and releases them at the end."""

    _scope: OperationScope | None = None
    _outcome_queued = False

    async def on_operation(self) -> AsyncIterator[None]:
        """Wrap the whole operation in a fresh scope."""
        context = self.execution_context.context
        if not isinstance(context, Context):  # pragma: no cover - schema misuse
            msg = "the schema must be executed with a graph.context.Context"
            raise TypeError(msg)
        scope, token = open_scope(context.database)
        scope.uow.audit_context = context.audit_context()
        self._scope = scope
        try:
            yield
            self._queue_outcome(scope, context)
        finally:
            try:
                await close_scope(scope, token)
            except Unavailable as error:
                self._withhold(self.execution_context.result, error)

    async def on_stream_result(self, result: Any) -> AsyncIterator[None]:
        """Over a WebSocket: store a query's or mutation's audit rows before its result is sent."""
        scope, context = self._scope, self.execution_context.context
        if scope is not None and isinstance(context, Context) and not self._is_subscription():
            self._queue_outcome(scope, context)
            await scope.uow.close()  # no connection held while waiting for the batch
            try:
                await scope.uow.record(scope.audit_queue)
            except Unavailable as error:
                self._withhold(result, error)
        yield

    def _is_subscription(self) -> bool:
        try:
            return self.execution_context.operation_type is OperationType.SUBSCRIPTION
        except RuntimeError:  # no executable operation in the document
            return False

    def _queue_outcome(self, scope: OperationScope, context: Context) -> None:
        """Queue the rows the operation's outcome calls for, once: denials, AUDIT_READS=all."""
        if self._outcome_queued:
            return
        self._outcome_queued = True
        self._queue_denials(scope)
        if context.settings.audit_reads is AuditReads.ALL:
            self._queue_read(scope)

    def _withhold(self, result: Any, error: Unavailable) -> None:
        """Answer `error` alone in place of a result whose audit rows were not stored."""
        if result is None:  # a subscription, or nothing ran: nothing to withhold
            return
        errors = [GraphQLError(error.message, original_error=error)]
        shape_errors(errors, self._operation_name())
        result.data = None
        result.errors = errors

    def _queue_denials(self, scope: OperationScope) -> None:
        result = self.execution_context.result
        errors: list[GraphQLError] = list(getattr(result, "errors", None) or [])
        user_id = scope.principal.user_id if scope.principal else None
        for error in errors:
            # Errors are shaped before this runs: the code survives, the exception may not.
            code = (error.extensions or {}).get("code")
            if isinstance(error.original_error, Forbidden) or code == ErrorCode.FORBIDDEN.value:
                scope.audit_queue.append(
                    AuditEntry(
                        action=AuditAction.ACCESS_DENIED, status=AuditStatus.FAILURE,
                        user_id=user_id, error_message=error.message,
                        description=self._operation_name(),
                        metadata={"path": [str(part) for part in error.path or []]},
                    )
                )  # fmt: skip

    def _queue_read(self, scope: OperationScope) -> None:
        try:
            is_query = self.execution_context.operation_type == OperationType.QUERY
        except RuntimeError:  # no executable operation in the document
            return
        if scope.principal is None or not is_query:
            return
        document = self.execution_context.graphql_document
        fields = sorted(
            {
                selection.name.value
                for definition in (document.definitions if document else [])
                if isinstance(definition, OperationDefinitionNode)
                for selection in definition.selection_set.selections
                if hasattr(selection, "name")
            }
        )
        scope.audit_queue.append(
            AuditEntry(
                action=AuditAction.READ, user_id=scope.principal.user_id,
                description=self._operation_name(), metadata={"fields": fields},
            )
        )  # fmt: skip

    def _operation_name(self) -> str | None:
        return self.execution_context.operation_name
