"""Identity queries: me, user, users, roles."""

from __future__ import annotations

import strawberry

from auth.permissions import Permission
from db.errors import NotFound
from db.repositories import identity as identity_repo
from graph.common.info import Info
from graph.common.loaders import visible_row
from graph.identity.inputs import UserFilter, UserOrder
from graph.identity.loaders import UsersById
from graph.identity.types import RoleNode, UserConnection, UserNode
from graph.permissions import HasPermission, IsAuthenticated


@strawberry.type
class IdentityQueries:
    """Identity fields of the query root."""

    @strawberry.field(permission_classes=[IsAuthenticated], description="The signed-in user.")
    async def me(self, info: Info) -> UserNode:
        """The caller's own user."""
        principal = await info.context.require_principal()
        user = await info.context.loaders.get(UsersById).load(principal.user_id)
        if user is None:  # pragma: no cover - a live session implies a live user
            raise NotFound
        return UserNode.from_model(user)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="A user by id: yourself, or anyone with `users:read`; NOT_FOUND otherwise.",
    )
    async def user(self, info: Info, id: strawberry.ID) -> UserNode | None:
        """Hidden and unknown users are both NOT_FOUND."""
        user = await visible_row(info, UsersById, id, "User")
        principal = await info.context.require_principal()
        if user.id != principal.user_id:
            info.context.audit_read("User", str(user.id))
        return UserNode.from_model(user)

    @strawberry.field(
        permission_classes=[HasPermission(Permission.USERS_READ)],
        description="Users, filtered and ordered, as a keyset-paginated connection.",
    )
    async def users(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: UserFilter | None = None,
        order_by: UserOrder | None = None,
    ) -> UserConnection:
        """One statement for the page (plus one for totalCount when asked)."""
        query = (filter or UserFilter()).to_query(order_by)
        page = await info.context.uow.query(identity_repo.users_page, query, first, after)
        info.context.audit_read("User", None, rows=len(page.rows))
        return UserConnection.from_page(page, query)

    @strawberry.field(
        permission_classes=[HasPermission(Permission.ROLES_READ)], description="Every role."
    )
    async def roles(self, info: Info) -> list[RoleNode]:
        """All live roles by name."""
        rows = await info.context.uow.query(identity_repo.all_roles)
        return [RoleNode.from_model(row) for row in rows]
