"""Per-request context and the per-operation scope (unit of work, caller, dataloaders).

Every GraphQL operation gets one `OperationScope`: one `UnitOfWork`, the operation's caller and
its own dataloaders. Resolvers and loaders reach the database only through that unit of work
(db/unit_of_work.py describes its sessions and transactions). Loaders are cleared when the caller
changes (after `login`, and for each event of a subscription).

The scope lives in a context variable, not on the context object, because Strawberry shares one
context between all operations of a WebSocket connection, while each operation runs in a task of
its own. `OperationScopeExtension` opens the scope when an operation starts and closes it (storing
the audit rows it queued and returning the connection) when the operation ends.

The caller is authenticated once per operation, before anything executes, by the
authentication step (graph/extensions/authentication.py, run by graph/extensions/gate.py),
which stores the principal or the rejection on the scope; `Context.principal()` only reads
it. A revoked session therefore stops working at its next operation, on HTTP and on an open
WebSocket alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from auth import token_failures
from auth.principal import Principal
from auth.service import AuthService, Device
from auth.tokens import bearer_token
from core.context import RequestInfo
from core.settings import AuditReads, Settings
from db.audit.entries import AuditContext, AuditEntry, json_safe
from db.errors import Unauthenticated
from db.models import AuditAction
from db.rate_limits import Counters
from db.session import Database
from db.unit_of_work import UnitOfWork
from graph.metrics import Metrics
from graph.ws import ConnectionGuard

LoaderT = TypeVar("LoaderT")


@dataclass(frozen=True, slots=True)
class Anonymous:
    """The viewer of an unauthenticated operation: nobody, who sees nobody else's rows."""

    user_id: uuid.UUID = field(default_factory=lambda: uuid.UUID(int=0))

    def sees_all_users(self) -> bool:
        """Anonymous callers see no user."""
        return False

    def sees_all_sessions(self) -> bool:
        """Anonymous callers see no session."""
        return False

    def sees_all_holders(self) -> bool:
        """Anonymous callers see no account holder."""
        return False

    def sees_all_accounts(self) -> bool:
        """Anonymous callers see no account."""
        return False

    def sees_all_audit(self) -> bool:
        """Anonymous callers see no audit row."""
        return False


ANONYMOUS = Anonymous()
Viewer = Principal | Anonymous


class Loaders:
    """The operation's dataloaders, created on first use for the operation's caller."""

    def __init__(self, scope: OperationScope) -> None:
        self._scope = scope
        self._loaders: dict[Callable[..., Any], Any] = {}

    def get(self, factory: Callable[[UnitOfWork, OperationScope], LoaderT]) -> LoaderT:
        """The operation's instance of the loader that `factory` builds.

        Loaders read the caller from the scope when a batch runs; without one (anonymous, or a
        refused token) visibility fails closed.
        """
        loader = self._loaders.get(factory)
        if loader is None:
            loader = self._loaders[factory] = factory(self._scope.uow, self._scope)
        return loader

    def clear(self) -> None:
        """Forget every cached result, e.g. after a write."""
        self._loaders.clear()


@dataclass(slots=True)
class OperationScope:
    """What one GraphQL operation owns: its unit of work, its caller and its loaders."""

    uow: UnitOfWork
    principal: Principal | None = None
    authentication_ran: bool = False
    """Whether the operation's authentication step has run (see `authenticate_operation`)."""
    rejected: Unauthenticated | None = None
    """Why the credentials were refused; raised to every field that asks for the caller."""
    loaders: Loaders = field(init=False)
    audit_queue: list[AuditEntry] = field(default_factory=list)
    data_version: int | None = None
    """The caller's data version as authentication read it (keys the response cache)."""
    answer_valid_until: datetime | None = None
    """When the clock alone changes the answer (a session listed expires): its cache expiry."""

    def __post_init__(self) -> None:
        self.loaders = Loaders(self)

    @property
    def viewer(self) -> Viewer:
        """The caller as loaders and repositories see it."""
        return self.principal or ANONYMOUS

    def act_as(self, principal: Principal) -> None:
        """Resolve what follows for `principal`, with fresh loaders (each subscription event)."""
        self.principal = principal
        self.authentication_ran = True
        self.uow.actor_id = principal.user_id
        self.data_version = None  # known only for the principal authentication resolved
        self.loaders.clear()

    def answer_changes_at(self, moment: datetime) -> None:
        """Note a moment at which the answer being built stops being true (see response cache)."""
        if self.answer_valid_until is None or moment < self.answer_valid_until:
            self.answer_valid_until = moment

    def refuse(self, error: Unauthenticated) -> None:
        """Record that the operation's credentials were refused: it runs anonymous."""
        self.rejected = error
        self.authentication_ran = True


_current_scope: ContextVar[OperationScope | None] = ContextVar("operation_scope", default=None)


def open_scope(database: Database) -> tuple[OperationScope, object]:
    """Start a new operation scope in the current task; returns it and a token to close it."""
    scope = OperationScope(uow=database.unit_of_work())
    return scope, _current_scope.set(scope)


async def close_scope(scope: OperationScope, token: object) -> None:
    """End the scope opened by `open_scope`: give its connection back, then store its audit rows.

    The rows join the process's next group commit (db/audit/batch.py) and this returns once it
    committed; raises `Unavailable` when it failed. The connection goes back to the pool first,
    so operations waiting for a batch never hold the connections that batch needs.
    """
    try:
        try:
            await scope.uow.close()
        finally:
            await scope.uow.record(scope.audit_queue)
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
    """What every resolver may use: request, settings, services and the operation's scope."""

    request: Request | WebSocket
    response: Response | WebSocket | None
    settings: Settings
    database: Database
    request_info: RequestInfo
    metrics: Metrics
    auth: AuthService
    rate_limits: Counters
    cost_budgets: Counters
    connection_params: dict[str, Any] | None = field(default=None)
    guard: ConnectionGuard | None = field(default=None)

    @property
    def uow(self) -> UnitOfWork:
        """The current operation's unit of work."""
        return current_scope().uow

    @property
    def loaders(self) -> Loaders:
        """The current operation's dataloaders."""
        return current_scope().loaders

    def access_token(self) -> str | None:
        """The access token the client presents, or None; UNAUTHENTICATED if malformed.

        HTTP: the `Authorization` header. WebSocket: the `connection_init` payload's
        `authorization` (or `Authorization`) key, for every operation of the connection.
        """
        if isinstance(self.request, WebSocket):
            params = self.connection_params or {}
            return bearer_token(params.get("authorization") or params.get("Authorization"))
        return bearer_token(self.request.headers.get("authorization"))

    async def principal(self) -> Principal | None:
        """The caller authenticated for this operation, or None when anonymous.

        Only reads what the authentication step stored: a refused token is raised again to
        every field that asks (refused once, counted once).
        """
        scope = current_scope()
        if not scope.authentication_ran:
            msg = "the operation's caller is read before its authentication step ran"
            raise RuntimeError(msg)
        if scope.rejected is not None:
            raise scope.rejected
        return scope.principal

    async def note_rejected_token(self, error: Unauthenticated) -> None:
        """Count a failed token authentication per address and minute (see auth.token_failures).

        The first row of a minute joins the operation's audit rows (with its request id and
        user agent); outside an operation (a WebSocket's `connection_init`) it is stored at once.
        """
        source = self.device().ip_address or "unknown"
        own, closed = self.auth.token_failures.note(source, error.message)
        scope = _current_scope.get()
        if own is not None and scope is not None:
            scope.audit_queue.append(own)
        elif own is not None:
            closed.append(own)
        await token_failures.store(self.database, closed)

    async def sign_in_as(self, access_token: str) -> Principal:
        """Make a just-issued token the caller of the rest of this operation (after login)."""
        scope = current_scope()
        principal = (await self.auth.authenticate(scope.uow, access_token)).principal
        scope.act_as(principal)
        self.request_info.user_id = str(principal.user_id)
        return principal

    def audit_context(self) -> AuditContext:
        """Request id, address and user agent for the audit rows of this operation."""
        device = self.device()
        return AuditContext(
            request_id=self.request_info.request_id,
            ip_address=device.ip_address or None,
            user_agent=device.user_agent or None,
        )

    def audit_read(
        self, entity_type: str, entity_id: str | None = None, **metadata: object
    ) -> None:
        """Record that the caller read sensitive data (unless AUDIT_READS=none)."""
        if self.settings.audit_reads is AuditReads.NONE:
            return
        scope = current_scope()
        scope.audit_queue.append(
            AuditEntry(
                action=AuditAction.READ, entity_type=entity_type, entity_id=entity_id,
                user_id=scope.principal.user_id if scope.principal else None,
                metadata=json_safe(metadata) or None,
            )
        )  # fmt: skip

    def audit_read_within(self, entity_type: str, parent_key: str, parent_id: str) -> None:
        """Record reads of `entity_type` lists under many parents as one READ row per operation.

        E.g. `cards` of 50 accounts in one query: one row whose metadata lists the 50 accounts.
        """
        if self.settings.audit_reads is AuditReads.NONE:
            return
        for entry in current_scope().audit_queue:
            metadata = entry.metadata or {}
            if (
                entry.entity_type == entity_type
                and entry.entity_id is None
                and parent_key in metadata
            ):
                metadata[parent_key].append(parent_id)
                return
        self.audit_read(entity_type, None, **{parent_key: [parent_id]})

    async def require_principal(self) -> Principal:
        """The authenticated caller, or UNAUTHENTICATED."""
        principal = await self.principal()
        if principal is None:
            raise Unauthenticated
        return principal

    def device(self) -> Device:
        """The user agent and address of the client, for new sessions."""
        client = self.request.client
        return Device(
            user_agent=self.request.headers.get("user-agent", ""),
            ip_address=client.host if client else "",
        )
