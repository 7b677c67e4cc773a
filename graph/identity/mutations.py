"""Identity mutations: sign-up, sign-in, refresh, sign-out, passwords, sessions, user management."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import strawberry

from auth.permissions import Permission
from db.errors import NotFound
from db.models import (
    AuthSession,
    User,
)
from db.services import identity as identity_service
from db.session import UnitOfWork
from graph.common.ids import parse_global_id, parse_uuid
from graph.common.info import Info
from graph.common.payloads import UserError, attempt
from graph.identity.inputs import (
    ChangePasswordInput,
    LoginInput,
    LogoutInput,
    RefreshTokenInput,
    RegisterInput,
    RevokeSessionInput,
    RoleGrantInput,
    UpdateProfileInput,
    UserIdInput,
)
from graph.identity.loaders import UsersById
from graph.identity.types import SessionNode, UserNode
from graph.permissions import (
    FailedLoginsPerAddress,
    HasPermission,
    IsAuthenticated,
    RateLimit,
    refund_login_attempt,
)


@strawberry.type
class RegisterPayload:
    """The new user, or why none was created."""

    user: UserNode | None
    errors: list[UserError]


@strawberry.type
class LoginPayload:
    """Tokens and the signed-in user."""

    access_token: str | None = None
    refresh_token: str | None = None
    token_type: str | None = None
    expires_in: int | None = strawberry.field(default=None, description="Access token seconds.")
    refresh_expires_in: int | None = None
    user: UserNode | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RefreshTokenPayload:
    """A new access token and a new refresh token (the old one is spent)."""

    access_token: str | None = None
    refresh_token: str | None = None
    expires_in: int | None = None
    refresh_expires_in: int | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class LogoutPayload:
    """How many sessions ended."""

    revoked_sessions: int
    errors: list[UserError]


@strawberry.type
class ChangePasswordPayload:
    """The user, or why the password was not changed."""

    user: UserNode | None
    errors: list[UserError]


@strawberry.type
class RevokeSessionPayload:
    """The ended session."""

    session: SessionNode | None
    errors: list[UserError]


async def _user(info: Info, user_id: uuid.UUID) -> UserNode | None:
    row = await info.context.loaders.get(UsersById).load(user_id)
    return UserNode.from_model(row) if row else None


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
class IdentityMutations:
    """Identity mutations of the mutation root: sign-in flows, then user management."""

    @strawberry.mutation(
        permission_classes=[RateLimit("register")], description="Create an account (role `user`)."
    )
    async def register(self, info: Info, input: RegisterInput) -> RegisterPayload:
        """WEAK_PASSWORD, VALIDATION_FAILED and CONFLICT come back in `errors`."""
        user, errors = await attempt(
            info.context,
            info.context.auth.register(
                info.context.uow, username=input.username, email=input.email,
                password=input.password, full_name=input.full_name,
            ),
        )  # fmt: skip
        if user is None:
            return RegisterPayload(user=None, errors=errors)
        return RegisterPayload(user=UserNode.from_model(user), errors=[])

    @strawberry.mutation(
        permission_classes=[RateLimit("login"), FailedLoginsPerAddress],
        description=(
            "Sign in; INVALID_CREDENTIALS, ACCOUNT_LOCKED or RATE_LIMITED as top-level errors."
        ),
    )
    async def login(self, info: Info, input: LoginInput) -> LoginPayload:
        """Open a session and return an access and a refresh token."""
        context = info.context
        pair = await context.auth.login(
            context.uow, input.username, input.password, context.device()
        )
        await refund_login_attempt(context)  # only failures count against the address
        await context.sign_in_as(pair.access.token)
        return LoginPayload(
            access_token=pair.access.token, refresh_token=pair.refresh.token,
            token_type="Bearer", expires_in=pair.access.expires_in,  # noqa: S106 - a scheme
            refresh_expires_in=pair.refresh.expires_in, user=await _user(info, pair.user_id),
        )  # fmt: skip

    @strawberry.mutation(
        permission_classes=[RateLimit("refresh")],
        description="Rotate a refresh token; UNAUTHENTICATED if it is spent.",
    )
    async def refresh_token(self, info: Info, input: RefreshTokenInput) -> RefreshTokenPayload:
        """A spent refresh token revokes its whole session family."""
        pair = await info.context.auth.refresh(info.context.uow, input.refresh_token)
        return RefreshTokenPayload(
            access_token=pair.access.token, refresh_token=pair.refresh.token,
            expires_in=pair.access.expires_in, refresh_expires_in=pair.refresh.expires_in,
        )  # fmt: skip

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="End this session, or all of them."
    )
    async def logout(self, info: Info, input: LogoutInput | None = None) -> LogoutPayload:
        """Access tokens of the ended sessions stop working at once."""
        principal = await info.context.require_principal()
        count = await info.context.auth.logout(
            info.context.uow, principal, all_sessions=bool(input and input.all_sessions)
        )
        return LogoutPayload(revoked_sessions=count, errors=[])

    @strawberry.mutation(
        permission_classes=[IsAuthenticated, RateLimit("password_change")],
        description="Change your password; every other session ends.",
    )
    async def change_password(
        self, info: Info, input: ChangePasswordInput
    ) -> ChangePasswordPayload:
        """VALIDATION_FAILED for a wrong current password, WEAK_PASSWORD for a weak new one."""
        principal = await info.context.require_principal()
        user, errors = await attempt(
            info.context,
            info.context.auth.change_password(
                info.context.uow, principal, input.current_password, input.new_password
            ),
        )
        return ChangePasswordPayload(
            user=UserNode.from_model(user) if user else None, errors=errors
        )

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="End one of your sessions."
    )
    async def revoke_session(self, info: Info, input: RevokeSessionInput) -> RevokeSessionPayload:
        """NOT_FOUND for sessions that are not yours."""
        principal = await info.context.require_principal()
        global_id = parse_global_id(input.session_id, "sessionId")
        session_id = parse_uuid(global_id.node_id) if global_id.type_name == "Session" else None

        async def revoke() -> AuthSession:
            if session_id is None:
                raise NotFound("No such session.", field=["input", "sessionId"])
            return await info.context.auth.revoke_session(info.context.uow, principal, session_id)

        row, errors = await attempt(info.context, revoke())
        if row is None:
            return RevokeSessionPayload(session=None, errors=errors)
        return RevokeSessionPayload(
            session=SessionNode.from_model(row, principal.session_id),
            errors=[],
        )

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Change your name, email or username (uniqueness is re-checked).",
    )
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> UserPayload:
        """VALIDATION_FAILED or CONFLICT come back in `errors`."""
        principal = await info.context.require_principal()
        changes = identity_service.ProfileChanges(
            full_name=input.full_name, email=input.email, username=input.username
        )
        user, errors = await attempt(
            info.context,
            identity_service.update_profile(info.context.uow, principal.user_id, changes),
        )
        return UserPayload(user=UserNode.from_model(user) if user else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[HasPermission(Permission.USERS_WRITE)],
        description="Deactivate a user; their sessions end at once.",
    )
    async def deactivate_user(self, info: Info, input: UserIdInput) -> UserPayload:
        """The last active admin cannot be deactivated."""
        return await _run(
            info,
            input.user_id,
            lambda uow, uid: identity_service.set_active(uow, uid, active=False),
        )

    @strawberry.mutation(
        permission_classes=[HasPermission(Permission.USERS_WRITE)], description="Reactivate a user."
    )
    async def activate_user(self, info: Info, input: UserIdInput) -> UserPayload:
        """Idempotent."""
        return await _run(
            info, input.user_id, lambda uow, uid: identity_service.set_active(uow, uid, active=True)
        )

    @strawberry.mutation(
        permission_classes=[HasPermission(Permission.USERS_WRITE)],
        description="Soft-delete a user (sets deletedAt) and end their sessions.",
    )
    async def delete_user(self, info: Info, input: UserIdInput) -> UserPayload:
        """The last active admin cannot be deleted."""
        return await _run(info, input.user_id, identity_service.delete)

    @strawberry.mutation(
        permission_classes=[HasPermission(Permission.ROLES_WRITE)], description="Grant a role."
    )
    async def assign_role(self, info: Info, input: RoleGrantInput) -> UserPayload:
        """Idempotent; NOT_FOUND for an unknown user or role."""
        return await _run(
            info, input.user_id, lambda uow, uid: identity_service.assign_role(uow, uid, input.role)
        )

    @strawberry.mutation(
        permission_classes=[HasPermission(Permission.ROLES_WRITE)], description="Withdraw a role."
    )
    async def revoke_role(self, info: Info, input: RoleGrantInput) -> UserPayload:
        """The last active admin keeps the admin role."""
        return await _run(
            info, input.user_id, lambda uow, uid: identity_service.revoke_role(uow, uid, input.role)
        )
