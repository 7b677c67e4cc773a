"""User management: profile, activation, deletion and role grants."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import strawberry

from db.errors import NotFound
from db.models import User
from db.services import users as user_service
from db.session import UnitOfWork
from graph.errors import UserError
from graph.mutations import attempt
from graph.permissions import HasPermission, IsAuthenticated
from graph.relay import parse_global_id
from graph.users.types import Info, UserNode, parse_uuid


@strawberry.input
class UpdateProfileInput:
    """New values for your own profile; omitted fields stay as they are."""

    full_name: str | None = None
    email: str | None = None
    username: str | None = None


@strawberry.input
class UserIdInput:
    """The user to act on."""

    user_id: strawberry.ID


@strawberry.input
class RoleGrantInput:
    """A user and a role name."""

    user_id: strawberry.ID
    role: str


@strawberry.type
class UserPayload:
    """The changed user, or why nothing changed."""

    user: UserNode | None
    errors: list[UserError]


def _user_id(value: strawberry.ID) -> uuid.UUID:
    global_id = parse_global_id(value, "userId")
    user_id = parse_uuid(global_id.node_id) if global_id.type_name == "User" else None
    if user_id is None:
        raise NotFound("No such user.", field=["input", "userId"])
    return user_id


async def _run(
    info: Info, value: strawberry.ID, change: Callable[[UnitOfWork, uuid.UUID], Awaitable[User]]
) -> UserPayload:
    async def work() -> User:
        return await change(info.context.uow, _user_id(value))

    user, errors = await attempt(info.context, work())
    return UserPayload(user=UserNode.from_model(user) if user else None, errors=errors)


@strawberry.type
class UserMutations:
    """User-management mutations of the mutation root."""

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Change your name, email or username (uniqueness is re-checked).",
    )
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> UserPayload:
        """VALIDATION_FAILED or CONFLICT come back in `errors`."""
        principal = await info.context.require_principal()
        changes = user_service.ProfileChanges(
            full_name=input.full_name, email=input.email, username=input.username
        )
        user, errors = await attempt(
            info.context, user_service.update_profile(info.context.uow, principal.user_id, changes)
        )
        return UserPayload(user=UserNode.from_model(user) if user else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[HasPermission("users:write")],
        description="Deactivate a user; their sessions end at once.",
    )
    async def deactivate_user(self, info: Info, input: UserIdInput) -> UserPayload:
        """The last active admin cannot be deactivated."""
        return await _run(
            info, input.user_id, lambda uow, uid: user_service.set_active(uow, uid, active=False)
        )

    @strawberry.mutation(
        permission_classes=[HasPermission("users:write")], description="Reactivate a user."
    )
    async def activate_user(self, info: Info, input: UserIdInput) -> UserPayload:
        """Idempotent."""
        return await _run(
            info, input.user_id, lambda uow, uid: user_service.set_active(uow, uid, active=True)
        )

    @strawberry.mutation(
        permission_classes=[HasPermission("users:write")],
        description="Soft-delete a user (sets deletedAt) and end their sessions.",
    )
    async def delete_user(self, info: Info, input: UserIdInput) -> UserPayload:
        """The last active admin cannot be deleted."""
        return await _run(info, input.user_id, user_service.delete)

    @strawberry.mutation(
        permission_classes=[HasPermission("roles:write")], description="Grant a role."
    )
    async def assign_role(self, info: Info, input: RoleGrantInput) -> UserPayload:
        """Idempotent; NOT_FOUND for an unknown user or role."""
        return await _run(
            info, input.user_id, lambda uow, uid: user_service.assign_role(uow, uid, input.role)
        )

    @strawberry.mutation(
        permission_classes=[HasPermission("roles:write")], description="Withdraw a role."
    )
    async def revoke_role(self, info: Info, input: RoleGrantInput) -> UserPayload:
        """The last active admin keeps the admin role."""
        return await _run(
            info, input.user_id, lambda uow, uid: user_service.revoke_role(uow, uid, input.role)
        )
