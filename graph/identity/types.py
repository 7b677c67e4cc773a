"""GraphQL types of the identity domain: User, Role, Session and the users connection."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay

from db.records.identity import RoleRecord, SessionView, UserView
from db.repositories import identity as identity_repo
from db.repositories.pages import Page
from graph.common.connections import PageEdge, edges_of, page_info
from graph.common.info import Info
from graph.common.loaders import nodes_by_ids
from graph.identity.loaders import PermissionsByRole, RolesByUser, SessionsByUser, UsersById

if TYPE_CHECKING:  # later domains, referenced lazily (they import this one)
    from graph.accounts.types import AccountConnection, AccountHolderNode
    from graph.audit.types import AuditLogConnection, AuditLogFilter


@strawberry.type(name="Role", description="A named set of permissions.")
class RoleNode(relay.Node):
    """A role and, lazily, the permissions it grants."""

    id: relay.NodeID[str]
    name: str
    description: str

    @classmethod
    def from_model(cls, role: RoleRecord) -> RoleNode:
        """The GraphQL view of a role record."""
        return cls(id=str(role.id), name=role.name, description=role.description)

    @strawberry.field(description="Permission names, such as `users:read`.")
    async def permissions(self, info: Info) -> list[str]:
        """Batched through PermissionsByRole."""
        names: list[str] = await info.context.loaders.get(PermissionsByRole).load(
            uuid.UUID(self.id)
        )
        return names

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[RoleNode | None]:
        """Roles are not fetched by id; `roles` lists them."""
        return [None for _ in node_ids]


@strawberry.type(name="Session", description="A signed-in device.")
class SessionNode(relay.Node):
    """One sign-in session (refresh-token family)."""

    id: relay.NodeID[str]
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip_address: str
    user_agent: str
    current: bool = strawberry.field(description="Whether this is the caller's session.")

    @classmethod
    def from_model(cls, row: SessionView, current_session: uuid.UUID | None) -> SessionNode:
        """The GraphQL view of a session record (or of a row a write returned)."""
        return cls(
            id=str(row.id), created_at=row.created_at, last_used_at=row.last_used_at,
            expires_at=row.expires_at, ip_address=row.ip_address, user_agent=row.user_agent,
            current=row.id == current_session,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[SessionNode | None]:
        """Sessions are reached through `me.sessions`, not by id."""
        return [None for _ in node_ids]


@strawberry.type(name="User", description="A person who can sign in.")
class UserNode(relay.Node):
    """A user as the caller may see them."""

    id: relay.NodeID[str]
    username: str
    email: str
    full_name: str
    is_active: bool
    is_admin: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None
    deleted_at: datetime | None

    @classmethod
    def from_model(cls, user: UserView) -> UserNode:
        """The GraphQL view of a user record (or of a row a write returned)."""
        return cls(
            id=str(user.id), username=user.username, email=user.email,
            full_name=user.full_name, is_active=user.is_active, is_admin=user.is_admin,
            created_at=user.created_at, updated_at=user.updated_at,
            last_login_at=user.last_login_at, deleted_at=user.deleted_at,
        )  # fmt: skip

    @strawberry.field(description="The user's live roles.")
    async def roles(self, info: Info) -> list[RoleNode]:
        """Batched through RolesByUser."""
        rows = await info.context.loaders.get(RolesByUser).load(uuid.UUID(self.id))
        return [RoleNode.from_model(row) for row in rows]

    @strawberry.field(
        description="Live sessions: your own, or anyone's with `sessions:read` (else empty)."
    )
    async def sessions(self, info: Info) -> list[SessionNode]:
        """Batched through SessionsByUser, which applies the visibility rule."""
        principal = await info.context.principal()
        rows = await info.context.loaders.get(SessionsByUser).load(uuid.UUID(self.id))
        current = principal.session_id if principal else None
        return [SessionNode.from_model(row, current) for row in rows]

    @strawberry.field(
        description=(
            "Audit rows of this user's actions, newest first: your own, or anyone's with "
            "`audit:read` (else empty)."
        )
    )
    async def audit_logs(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: Annotated[AuditLogFilter, strawberry.lazy("graph.audit.types")] | None = None,
    ) -> Annotated[AuditLogConnection, strawberry.lazy("graph.audit.types")]:
        """One statement for the page; the repository applies the visibility rule."""
        from graph.audit.types import audit_logs_of  # noqa: PLC0415 - later domain

        return await audit_logs_of(info, uuid.UUID(self.id), filter, first, after)

    @strawberry.field(description="The user's holder profile: yours, or any with `holders:read`.")
    async def account_holder(
        self, info: Info
    ) -> Annotated[AccountHolderNode, strawberry.lazy("graph.accounts.types")] | None:
        """Batched through HoldersByUser."""
        from graph.accounts.types import AccountHolderNode, holder_of_user  # noqa: PLC0415

        await info.context.require_principal()
        row = await holder_of_user(info, uuid.UUID(self.id))
        return AccountHolderNode.from_model(row) if row is not None else None

    @strawberry.field(
        description="The user's accounts, oldest first: yours, or any with `accounts:read`."
    )
    async def accounts(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Annotated[AccountConnection, strawberry.lazy("graph.accounts.types")]:
        """One batched statement for any number of users (their accounts, through the holder)."""
        from graph.accounts.types import accounts_of_user  # noqa: PLC0415 - later domain

        return await accounts_of_user(info, uuid.UUID(self.id), first, after)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[UserNode | None]:
        """Users by id through the caller-scoped loader: hidden and unknown are both None."""
        principal = await info.context.principal()

        def audit(row: UserView) -> None:  # reading someone else is a sensitive read
            if principal is not None and row.id != principal.user_id:
                info.context.audit_read("User", str(row.id))

        return await nodes_by_ids(info, UsersById, node_ids, cls.from_model, audit=audit)


@strawberry.type(description="An edge of the users connection.")
class UserEdge(PageEdge):
    """One user and its cursor."""

    node: UserNode


@strawberry.type(description="A page of users.")
class UserConnection:
    """Users, keyset-paginated, with the total number of matches."""

    edges: list[UserEdge]
    page_info: relay.PageInfo
    query: strawberry.Private[identity_repo.UserQuery]

    @classmethod
    def from_page(cls, page: Page[Any], query: identity_repo.UserQuery) -> UserConnection:
        """Build a connection from a repository page."""
        edges = edges_of(page, UserEdge, UserNode.from_model)
        return cls(edges=edges, page_info=page_info(page), query=query)

    @strawberry.field(description="How many users match the filter, across all pages.")
    async def total_count(self, info: Info) -> int:
        """One COUNT statement, only when asked for."""
        return await info.context.uow.query(identity_repo.count_users, self.query)
