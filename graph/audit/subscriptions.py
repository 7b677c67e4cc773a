"""Live audit events over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from db.audit.events import SubscriberTooSlow
from db.errors import Unauthenticated
from db.repositories import audit as audit_repo
from graph.audit.types import AuditLogFilter, AuditLogNode, audit_query
from graph.context import Context
from graph.permissions import IsAuthenticated

Info = strawberry.Info[Context, None]


@strawberry.type
class AuditSubscriptions:
    """Audit fields of the subscription root."""

    @strawberry.subscription(
        permission_classes=[IsAuthenticated],
        description=(
            "Audit rows as their transactions commit: every row with `audit:read`, otherwise "
            "your own. Permissions are checked again for every event."
        ),
    )
    async def audit_events(
        self, info: Info, filter: AuditLogFilter | None = None
    ) -> AsyncGenerator[AuditLogNode, None]:
        """Follow the event bus until the connection's access ends."""
        query = audit_query(filter)
        guard = info.context.guard
        if guard is None:  # pragma: no cover - connections are authenticated at init
            raise Unauthenticated
        # The operation's read snapshot is not needed while streaming: give it back.
        await info.context.uow.close()
        async with info.context.database.events.subscribe() as subscription:
            while True:
                try:
                    row = await subscription.next()
                except SubscriberTooSlow:  # ends with `complete`; the client subscribes again
                    return
                principal = guard.principal
                if principal is None or not guard.active:
                    return
                if audit_repo.may_see(principal, row) and query.matches(row):
                    yield AuditLogNode.from_model(row)
