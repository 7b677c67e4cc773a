"""GraphQL types of the audit trail: AuditLog, its filter, connection and chain status."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from db.audit.chain import ChainStatus
from db.errors import BadRequest
from db.models import AuditAction, AuditStatus
from db.records.audit import AuditLogFields
from db.repositories import audit as audit_repo
from db.repositories.pages import Page
from graph.audit.loaders import AuditCountsByUser, AuditFirstPagesByUser, AuditLogsById
from graph.common.connections import PageEdge, edges_of, page_info
from graph.common.ids import parse_global_id, parse_uuid
from graph.common.info import Info
from graph.common.loaders import nodes_by_ids
from graph.identity.loaders import UsersById
from graph.identity.types import UserNode
from graph.scalars import Long

AuditActionEnum = strawberry.enum(AuditAction, name="AuditAction", description="Kinds of action.")
AuditStatusEnum = strawberry.enum(
    AuditStatus, name="AuditStatus", description="Whether the action succeeded."
)


@strawberry.type(name="AuditLog", description="One immutable, hash-chained audit row.")
class AuditLogNode(relay.Node):
    """An audit row as the caller may see it."""

    id: relay.NodeID[str]
    sequence: Long = strawberry.field(description="Position in the chain, from 1, gapless.")
    action: AuditActionEnum  # type: ignore[valid-type]
    entity_type: str | None
    entity_id: str | None
    old_values: JSON | None
    new_values: JSON | None
    description: str | None
    ip_address: str | None
    user_agent: str | None
    status: AuditStatusEnum  # type: ignore[valid-type]
    error_message: str | None
    request_id: str | None
    created_at: datetime
    metadata: JSON | None
    hash: str = strawberry.field(
        description="HMAC-SHA256 (SHA-256 for rows from before keyed hashing) over the "
        "previous hash and this row."
    )
    user_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, row: AuditLogFields) -> AuditLogNode:
        """The GraphQL view of an audit row: a record, or an ORM row from the event bus."""
        return cls(
            id=str(row.id), sequence=Long(row.sequence), action=AuditAction(row.action),
            entity_type=row.entity_type, entity_id=row.entity_id,
            old_values=cast("JSON", row.old_values), new_values=cast("JSON", row.new_values),
            description=row.description, ip_address=row.ip_address, user_agent=row.user_agent,
            status=AuditStatus(row.status), error_message=row.error_message,
            request_id=row.request_id, created_at=row.created_at,
            metadata=cast("JSON", row.extra), hash=row.hash, user_id=row.user_id,
        )  # fmt: skip

    @strawberry.field(description="Who acted, when the caller may see that user.")
    async def user(self, info: Info) -> UserNode | None:
        """Batched through the caller-scoped UsersById loader."""
        if self.user_id is None:
            return None
        row = await info.context.loaders.get(UsersById).load(self.user_id)
        return UserNode.from_model(row) if row is not None else None

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[AuditLogNode | None]:
        """Rows by id: your own, or any with `audit:read`; others are None."""
        return await nodes_by_ids(info, AuditLogsById, node_ids, cls.from_model)


@strawberry.input(description="Filters of audit rows; all optional and combined with AND.")
class AuditLogFilter:
    """What to include in `auditLogs`, `me.auditLogs` and `auditEvents`."""

    user_id: strawberry.ID | None = strawberry.field(default=None, description="A User id.")
    action: AuditActionEnum | None = None  # type: ignore[valid-type]
    entity_type: str | None = None
    entity_id: str | None = None
    status: AuditStatusEnum | None = None  # type: ignore[valid-type]
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Rows created at or after this instant."
    )
    to: datetime | None = strawberry.field(
        default=None, description="Rows created before this instant."
    )

    def to_query(self) -> audit_repo.AuditQuery:
        """The repository query for this filter; BAD_REQUEST for a malformed user id."""
        user_id = None
        if self.user_id is not None:
            global_id = parse_global_id(self.user_id, "userId")
            user_id = parse_uuid(global_id.node_id) if global_id.type_name == "User" else None
            if user_id is None:
                raise BadRequest("`userId` is not a User id", field=["filter", "userId"])
        return audit_repo.AuditQuery(
            user_id=user_id, action=self.action.value if self.action else None,
            entity_type=self.entity_type, entity_id=self.entity_id,
            status=self.status.value if self.status else None, since=self.from_, until=self.to,
        )  # fmt: skip


def audit_query(filter: AuditLogFilter | None) -> audit_repo.AuditQuery:
    """The repository query for an optional filter."""
    return filter.to_query() if filter is not None else audit_repo.AuditQuery()


@strawberry.type(description="An edge of an audit log connection.")
class AuditLogEdge(PageEdge):
    """One audit row and its cursor."""

    node: AuditLogNode


@strawberry.type(description="A page of audit rows, newest first.")
class AuditLogConnection:
    """Audit rows, keyset-paginated, with the total number of matches."""

    edges: list[AuditLogEdge]
    page_info: relay.PageInfo
    query: strawberry.Private[audit_repo.AuditQuery]
    matches_nothing: strawberry.Private[bool] = False

    @classmethod
    def from_page(cls, page: Page[Any], query: audit_repo.AuditQuery) -> AuditLogConnection:
        """Build a connection from a repository page."""
        edges = edges_of(page, AuditLogEdge, AuditLogNode.from_model)
        return cls(edges=edges, page_info=page_info(page), query=query)

    @classmethod
    def empty(cls, query: audit_repo.AuditQuery) -> AuditLogConnection:
        """A connection with no rows (for filters that cannot match)."""
        connection = cls.from_page(Page(rows=[], has_next=False, has_previous=False), query)
        connection.matches_nothing = True
        return connection

    @strawberry.field(description="How many rows match the filter, across all pages.")
    async def total_count(self, info: Info) -> int:
        """One COUNT statement, only when asked for."""
        principal = await info.context.require_principal()
        if self.matches_nothing:
            return 0
        if self.query.user_id is not None:  # one user's list, maybe one of many: batched
            key = (self.query.user_id, replace(self.query, user_id=None))
            total: int = await info.context.loaders.get(AuditCountsByUser).load(key)
            return total
        return await info.context.uow.query_core(audit_repo.count, principal, self.query)


@strawberry.type(description="The outcome of recomputing the audit hash chain.")
class AuditChainStatus:
    """Whether every row still fits the chain, and where it first does not."""

    valid: bool
    checked_entries: int
    first_broken_sequence: Long | None
    head_hash: str
    legacy_entries: int = strawberry.field(
        default=0,
        description="Rows from before keyed hashing (plain SHA-256, no key id) at the start.",
    )

    @classmethod
    def from_status(cls, status: ChainStatus) -> AuditChainStatus:
        """The GraphQL view of a verification result."""
        broken = status.first_broken_sequence
        return cls(
            valid=status.valid, checked_entries=status.checked_entries,
            first_broken_sequence=Long(broken) if broken is not None else None,
            head_hash=status.head_hash, legacy_entries=status.legacy_entries,
        )  # fmt: skip


async def audit_logs_of(
    info: Info,
    user_id: uuid.UUID,
    filter: AuditLogFilter | None,
    first: int | None,
    after: str | None,
) -> AuditLogConnection:
    """`User.auditLogs`: first pages batched across users, later pages by keyset."""
    principal = await info.context.require_principal()
    requested = audit_query(filter)
    query = replace(requested, user_id=None)
    if requested.user_id not in (None, user_id):  # filters AND together: nothing matches
        return AuditLogConnection.empty(requested)
    if after is None:  # lists of users: one statement for all their first pages
        loader = info.context.loaders.get(AuditFirstPagesByUser)
        page = await loader.load((user_id, (query, first)))
    else:
        page = await info.context.uow.query_core(
            audit_repo.list_page, principal, replace(query, user_id=user_id), first, after
        )
    if user_id != principal.user_id:
        info.context.audit_read("AuditLog", None, user_id=str(user_id), rows=len(page.rows))
    return AuditLogConnection.from_page(page, replace(query, user_id=user_id))
