"""Per-request context and the per-operation scope (unit of work and dataloaders).

Session rule (ARCHITECTURE.md rule 2): every GraphQL operation gets one `OperationScope` holding
one `UnitOfWork` and its own dataloaders. Sibling fields and loader batches resolve concurrently,
but they all reach the database through `scope.uow.read()`, which serializes statements on the
operation's single session, so a query reads one consistent snapshot. Mutations write through
`scope.uow.write()`, one committed transaction per unit of work.

The scope lives in a context variable, not on the context object, because Strawberry shares one
context between all operations of a WebSocket connection, while each operation runs in a task of
its own. `OperationScopeExtension` opens the scope when an operation starts and closes it (ending
the read snapshot and returning the connection) when the operation ends.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from core.context import RequestInfo
from core.settings import Settings
from db.session import Database, UnitOfWork
from graph.metrics import Metrics

LoaderT = TypeVar("LoaderT")


class Loaders:
    """The operation's dataloaders, created on first use so that each is per operation."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._loaders: dict[Callable[..., Any], Any] = {}

    def get(self, factory: Callable[[UnitOfWork], LoaderT]) -> LoaderT:
        """The operation's instance of the loader that `factory` builds."""
        loader = self._loaders.get(factory)
        if loader is None:
            loader = self._loaders[factory] = factory(self._uow)
        return loader

    def clear(self) -> None:
        """Forget every cached result, e.g. after a write."""
        self._loaders.clear()


@dataclass(slots=True)
class OperationScope:
    """What one GraphQL operation owns: its unit of work and its loaders."""

    uow: UnitOfWork
    loaders: Loaders


_current_scope: ContextVar[OperationScope | None] = ContextVar("operation_scope", default=None)


def open_scope(database: Database) -> tuple[OperationScope, object]:
    """Start a new operation scope in the current task; returns it and a token to close it."""
    uow = database.unit_of_work()
    scope = OperationScope(uow=uow, loaders=Loaders(uow))
    return scope, _current_scope.set(scope)


async def close_scope(scope: OperationScope, token: object) -> None:
    """End the scope opened by `open_scope`."""
    try:
        await scope.uow.close()
    finally:
        _current_scope.reset(token)  # type: ignore[arg-type]


def current_scope() -> OperationScope:
    """The scope of the operation being resolved."""
    scope = _current_scope.get()
    if scope is None:
        msg = "no GraphQL operation is in progress"
        raise RuntimeError(msg)
    return scope


@dataclass(slots=True)
class Context:
    """What every resolver may use: request, settings, database and the operation's scope."""

    request: Request | WebSocket
    response: Response | WebSocket | None
    settings: Settings
    database: Database
    request_info: RequestInfo
    metrics: Metrics
    connection_params: dict[str, Any] | None = field(default=None)

    @property
    def uow(self) -> UnitOfWork:
        """The current operation's unit of work."""
        return current_scope().uow

    @property
    def loaders(self) -> Loaders:
        """The current operation's dataloaders."""
        return current_scope().loaders
