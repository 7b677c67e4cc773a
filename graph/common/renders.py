"""Subscription events rendered once per audience and shared by every subscriber of it.

A subscription resolver may yield a `SharedEvent` instead of a plain value: the event's value,
the dict of renders every subscriber of that event shares (one per event, see
`db.audit.events.AuditEvent.renders`) and who the render is for (`audience`). `SharingExecutor`,
graphql-core's per-event executor, then executes the subscription's selection set once per
(document, variables, audience): the first subscriber of a group executes, the others await the
same result. Entries live as long as the event does, i.e. until every subscriber has passed it.

A render that queues audit rows (a sensitive read of someone else's data) is not shared: each
subscriber then executes for itself, so each read is recorded for the caller who made it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, cast

from graphql import ExecutionResult
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from db.audit.entries import AuditEntry
from graph.context import current_scope

PERSONAL = object()
"""A group's entry when its render queued audit rows: every subscriber renders for itself."""


@dataclass(frozen=True, slots=True)
class SharedEvent:
    """A subscription payload whose render is shared by the subscribers of one audience."""

    value: Any
    """The subscription field's value for this event."""
    renders: dict[Hashable, Any] = field(hash=False, compare=False)
    """The event's renders by group, shared by every subscriber of the event."""
    audience: Hashable
    """Who the render is for: equal audiences see the same result of the same document."""


class SharingExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor; a `SharedEvent` is executed once per document, variables, audience."""

    shared: SharedEvent | None = None

    def build_per_event_executor(self, payload: Any) -> Any:
        """The executor of one event; a shared event's value becomes the root value."""
        if not isinstance(payload, SharedEvent):
            return super().build_per_event_executor(payload)
        executor = cast("SharingExecutor", super().build_per_event_executor(payload.value))
        executor.shared = payload
        return executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        """Execute, or await the render of the subscriber's group for a shared event."""
        shared = self.shared
        if shared is None:
            return super().execute_operation(serially)
        execute = super().execute_operation
        key = (*self.group(), shared.audience)
        queue = current_scope().audit_queue
        return render_once(shared.renders, key, lambda: execute(serially), queue)

    def group(self) -> tuple[Hashable, str]:
        """The document (its source and operation) and the variables as the client sent them."""
        operation = self.operation
        name = operation.name.value if operation.name else None
        document: Hashable = (operation.loc.source.body, name) if operation.loc else operation
        variables = {name: source.value for name, source in self.variable_values.sources.items()}
        return document, json.dumps(variables, sort_keys=True, default=repr)


async def render_once(
    renders: dict[Hashable, Any],
    key: Hashable,
    execute: Callable[[], Any],
    audit_queue: list[AuditEntry],
) -> ExecutionResult:
    """The group's render of the event: executed by its first subscriber, awaited by the rest.

    When the executing subscriber goes away mid-render, the next waiting one executes instead.
    When the render queued audit rows on `audit_queue` (the executing subscriber's), nobody
    shares it. Each subscriber gets its own result object (errors are shaped per request, in
    place).
    """
    while True:
        pending = renders.get(key)
        if pending is PERSONAL:
            return await _awaited(execute())
        if pending is None:
            return await _execute_for_group(renders, key, execute, audit_queue)
        try:
            result: ExecutionResult = await asyncio.shield(pending)
        except asyncio.CancelledError:
            if pending.cancelled() and renders.get(key) is not pending:
                continue  # the executing subscriber left: render again
            raise
        return _copy(result)


async def _execute_for_group(
    renders: dict[Hashable, Any],
    key: Hashable,
    execute: Callable[[], Any],
    queue: list[AuditEntry],
) -> ExecutionResult:
    future: asyncio.Future[ExecutionResult] = asyncio.get_running_loop().create_future()
    renders[key] = future
    queued = repr(queue)  # entries may also grow in place (Context.audit_read_within)
    try:
        result = await _awaited(execute())
    except BaseException:
        del renders[key]
        future.cancel()
        raise
    if repr(queue) != queued:  # it recorded a sensitive read: the others read for themselves
        renders[key] = PERSONAL
        future.cancel()
        return result
    future.set_result(result)
    return _copy(result)


async def _awaited(result: Any) -> ExecutionResult:
    if isinstance(result, Awaitable):
        result = await result
    if not isinstance(result, ExecutionResult):  # pragma: no cover - subscriptions never stream
        msg = "a subscription event rendered something other than one result"
        raise TypeError(msg)
    return result


def _copy(result: ExecutionResult) -> ExecutionResult:
    return ExecutionResult(
        result.data, list(result.errors) if result.errors else None, result.extensions
    )
