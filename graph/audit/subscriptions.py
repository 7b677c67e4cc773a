"""Live audit events over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from db.audit.events import SubscriberTooSlow
from db.errors import Unauthenticated
from db.repositories import audit as audit_repo
from graph.audit.types import AuditLogFilter, AuditLogNode, audit_query
from graph.common.info import Info
from graph.context import current_scope
from graph.permissions import IsAuthenticated


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
        scope = current_scope()
        # The operation's read snapshot is not needed while streaming: give it back.
        await scope.uow.close()
        async with info.context.database.events.subscribe() as subscription:
            while True:
                try:
                    row = await subscription.next()
                except SubscriberTooSlow:  # ends with `complete`; the client subscribes again
                    return
                principal = await guard.principal_at(row.sequence)
                if principal is None:
                    return
                if audit_repo.may_see(principal, row) and query.matches(row):
                    # Nested fields resolve for the caller as of this event, on fresh loaders,
                    # and the connection they used goes back to the pool before the next one.
                    scope.act_as(principal)
                    yield AuditLogNode.from_model(row)
                    await scope.uow.close()
