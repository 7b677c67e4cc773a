"""Live audit events over graphql-transport-ws."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Hashable, Iterable
from typing import cast

import strawberry
from strawberry.types.nodes import SelectedField, Selection

from auth.principal import Principal
from db.audit.events import SubscriberTooSlow
from db.errors import Unauthenticated
from db.repositories import audit as audit_repo
from graph.audit.types import AuditLogFilter, AuditLogNode, audit_query
from graph.common.info import Info
from graph.common.renders import SharedEvent
from graph.context import current_scope
from graph.permissions import IsAuthenticated

SESSION_RELATIVE_FIELDS = frozenset({"current"})
"""Fields whose value depends on the caller's session, not only on who the caller is
(`Session.current`): a document selecting one is rendered per session."""


def selects_session_relative(selections: Iterable[Selection]) -> bool:
    """Whether any field selected, at any depth and through fragments, is session-relative."""
    return any(
        (isinstance(selection, SelectedField) and selection.name in SESSION_RELATIVE_FIELDS)
        or selects_session_relative(selection.selections)
        for selection in selections
    )


def audience(principal: Principal, subject: uuid.UUID | None, *, per_session: bool) -> Hashable:
    """Who a render is for: callers with equal audiences see the same render of a document.

    That is the permission set, plus the user when it does not see every row of every kind
    (what such a caller sees depends on who they are), plus the session for session-relative
    documents, plus whether the event is about the caller (`subject`, the row's user): reading
    one's own profile or audit rows records no READ row where reading someone else's does, so
    the subject's render is never handed to anybody else.
    """
    sees_everyone = (
        principal.sees_all_users() and principal.sees_all_sessions()
        and principal.sees_all_holders() and principal.sees_all_accounts()
        and principal.sees_all_audit()
    )  # fmt: skip
    return (
        principal.permissions, principal.is_admin,
        None if sees_everyone else principal.user_id,
        principal.session_id if per_session else None,
        principal.user_id if subject == principal.user_id else None,
    )  # fmt: skip


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
        per_session = selects_session_relative(info.selected_fields)
        # The operation's read snapshot is not needed while streaming: give it back.
        await scope.uow.close()
        async with info.context.database.events.subscribe() as subscription:
            while True:
                try:
                    event = await subscription.next()
                except SubscriberTooSlow:  # ends with `complete`; the client subscribes again
                    return
                row = event.row
                principal = await guard.principal_at(row.sequence)
                if principal is None:
                    return
                if audit_repo.may_see(principal, row) and query.matches(row):
                    # Nested fields resolve for the caller as of this event, on fresh loaders,
                    # and the connection they used goes back to the pool before the next one.
                    # The first subscriber of an audience renders; the others share its result.
                    scope.act_as(principal)
                    yield cast(
                        "AuditLogNode",
                        SharedEvent(
                            AuditLogNode.from_model(row),
                            event.shared,
                            audience(principal, row.user_id, per_session=per_session),
                        ),
                    )
                    await scope.uow.close()
