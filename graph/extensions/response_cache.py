"""The response cache step: the last before execution (graph/response_cache.py has the rules).

Run by graph/extensions/gate.py.

It runs after authentication (which read the caller's data version) and after the cost budget,
so a hit is charged its cost like any other operation. A hit sets the operation's result, so
Strawberry skips execution, and queues the READ audit rows the cached answer had queued: read
auditing still happens. A miss executes; an answer without errors is stored.

Cached only for a signed-in caller who holds none of the "see everybody" permissions (and is
not an admin): everybody else's answers depend on other users' data versions.
"""

from __future__ import annotations

from graphql import ExecutionResult
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from auth.principal import Principal
from db.base import utcnow
from graph.context import Context, current_scope
from graph.response_cache import (
    CachedAnswer,
    CacheKey,
    DocumentVerdicts,
    ResponseCache,
    canonical_variables,
    document_hash,
)


def sees_only_own_data(principal: Principal) -> bool:
    """Whether every row the caller may read is theirs (no "see everybody" permission)."""
    return not (
        principal.is_admin
        or principal.sees_all_users()
        or principal.sees_all_sessions()
        or principal.sees_all_holders()
        or principal.sees_all_accounts()
        or principal.sees_all_audit()
    )


class ResponseCaching:
    """Answers a cacheable query from the cache, or lets it execute and stores its answer."""

    def __init__(self, *, cache: ResponseCache, verdicts: DocumentVerdicts) -> None:
        self.cache = cache
        self.verdicts = verdicts

    def answer(self, execution_context: ExecutionContext) -> CacheKey | None:
        """Serve a hit (nothing executes); else the key to store under, or None."""
        context = execution_context.context
        key = self._key(execution_context, context)
        if key is None or not isinstance(context, Context):
            return None
        scope = current_scope()
        cached = self.cache.get(key, utcnow())
        if cached is None:
            return key
        execution_context.result = ExecutionResult(data=cached.fresh_data())
        scope.audit_queue.extend(cached.fresh_audit_reads())
        self._observe(context, hit=True)
        return None

    def store(self, execution_context: ExecutionContext, key: CacheKey, queued_before: int) -> None:
        """Keep an answer without errors, with the READ rows queued since `queued_before`."""
        context = execution_context.context
        if not isinstance(context, Context):  # pragma: no cover - schema misuse
            return
        scope = current_scope()
        result = execution_context.result
        if isinstance(result, ExecutionResult) and not result.errors and result.data is not None:
            answer = CachedAnswer.of(
                key, result.data, scope.audit_queue[queued_before:], scope.answer_valid_until
            )
            if answer is not None:
                self.cache.put(key, answer)
        self._observe(context, hit=False)

    def _key(self, execution: ExecutionContext, context: object) -> CacheKey | None:
        """The cache key of this operation, or None when it may not be cached."""
        if not isinstance(context, Context) or not context.settings.response_cache:
            return None
        scope = current_scope()
        principal = scope.principal
        if principal is None or scope.data_version is None or not sees_only_own_data(principal):
            return None
        query = execution.query
        variables = canonical_variables(execution.variables)
        if query is None or variables is None or not self._cacheable_document(execution, query):
            return None
        return (
            document_hash(query), execution.operation_name, variables, principal.user_id,
            principal.session_id, tuple(sorted(principal.permissions)), scope.data_version,
        )  # fmt: skip

    def _cacheable_document(self, execution: ExecutionContext, query: str) -> bool:
        try:
            if execution.operation_type is not OperationType.QUERY:
                return False
        except RuntimeError:  # no operation to run (or several without a name)
            return False
        document = execution.graphql_document
        if document is None:  # pragma: no cover - parsed before execution
            return False
        return self.verdicts.cacheable(query, execution.operation_name, document)

    def _observe(self, context: Context, *, hit: bool) -> None:
        context.metrics.observe_response_cache(
            hit=hit, size_bytes=self.cache.size_bytes, entries=len(self.cache)
        )
