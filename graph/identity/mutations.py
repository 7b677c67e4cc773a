"""Identity mutations: sign-up, sign-in, refresh, sign-out, passwords, sessions, user management."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import strawberry

from auth.permissions import Permission
from db.errors import NotFound
from db.models import User
from db.services import identity as identity_service
from db.unit_of_work import Transaction
from graph.common.ids import node_uuid
from graph.common.info import Info
from graph.common.payloads import UserError, attempt, in_transaction, run_mutation
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

ALWAYS_EMPTY = (
    "Always empty: sign-in, refresh and sign-out failures are top-level errors with "
    "`extensions.code`."
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
    errors: list[UserError] = strawberry.field(
        default_factory=list, deprecation_reason=ALWAYS_EMPTY
    )


@strawberry.type
class RefreshTokenPayload:
    """A new access token and a new refresh token (the old one is spent)."""

    access_token: str | None = None
    refresh_token: str | None = None
    expires_in: int | None = None
    refresh_expires_in: int | None = None
    errors: list[UserError] = strawberry.field(
        default_factory=list, deprecation_reason=ALWAYS_EMPTY
    )


@strawberry.type
class LogoutPayload:
    """How many sessions ended."""

    revoked_sessions: int
    errors: list[UserError] = strawberry.field(
        default_factory=list, deprecation_reason=ALWAYS_EMPTY
    )


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


async def _run(
    info: Info, value: strawberry.ID, change: Callable[[Transaction, uuid.UUID], Awaitable[User]]
) -> UserPayload:
    try:
        user_id = node_uuid(value, "User", ["input", "userId"])
    except NotFound as unknown:
        return UserPayload(user=None, errors=[UserError.from_exception(unknown)])
    user, errors = await run_mutation(
        info.context, lambda transaction: change(transaction, user_id)
    )
    return UserPayload(user=UserNode.from_model(user) if user else None, errors=errors)


@strawberry.type
class IdentityMutations:
    """Identity mutations of the mutation root: sign-in flows, then user management."""

    @strawberry.mutation(
        permission_classes=[RateLimit("register")], description="Create an account (role `user`)."
    )
    async def register(self, info: Info, input: RegisterInput) -> RegisterPayload:
        """WEAK_PASSWORD, VALIDATION_FAILED and CONFLICT come back in `errors`."""
        context = info.context
        new_user, errors = await attempt(
            context,
            context.auth.credentials.prepare_registration(
                context.uow, username=input.username, email=input.email,
                password=input.password, full_name=input.full_name,
            ),
        )  # fmt: skip
        if new_user is None:
            return RegisterPayload(user=None, errors=errors)
        user, errors = await run_mutation(
            context,
            lambda transaction: context.auth.credentials.finish_registration(transaction, new_user),
        )
        return RegisterPayload(user=UserNode.from_model(user) if user else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[RateLimit("login"), FailedLoginsPerAddress],
        description=(
            "Sign in; INVALID_CREDENTIALS, ACCOUNT_LOCKED or RATE_LIMITED as top-level errors."
        ),
    )
    async def login(self, info: Info, input: LoginInput) -> LoginPayload:
        """Open a session and return an access and a refresh token."""
        context = info.context
        prepared = await context.auth.prepare_login(context.uow, input.username, input.password)
        device = context.device()
        pair = await in_transaction(
            context, lambda transaction: context.auth.finish_login(transaction, prepared, device)
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
        context = info.context
        claims = context.auth.refresh_claims(input.refresh_token)
        pair = await in_transaction(
            context, lambda transaction: context.auth.refresh(transaction, claims)
        )
        return RefreshTokenPayload(
            access_token=pair.access.token, refresh_token=pair.refresh.token,
            expires_in=pair.access.expires_in, refresh_expires_in=pair.refresh.expires_in,
        )  # fmt: skip

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="End this session, or all of them."
    )
    async def logout(self, info: Info, input: LogoutInput | None = None) -> LogoutPayload:
        """Access tokens of the ended sessions stop working at once."""
        context = info.context
        principal = await context.require_principal()
        all_sessions = bool(input and input.all_sessions)
        count = await in_transaction(
            context,
            lambda transaction: context.auth.logout(
                transaction, principal, all_sessions=all_sessions
            ),
        )
        return LogoutPayload(revoked_sessions=count)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated, RateLimit("password_change")],
        description="Change your password; every other session ends.",
    )
    async def change_password(
        self, info: Info, input: ChangePasswordInput
    ) -> ChangePasswordPayload:
        """VALIDATION_FAILED for a wrong current password, WEAK_PASSWORD for a weak new one."""
        context = info.context
        principal = await context.require_principal()
        change, errors = await attempt(
            context,
            context.auth.credentials.prepare_password_change(
                context.uow, principal, input.current_password, input.new_password
            ),
        )
        if change is None:
            return ChangePasswordPayload(user=None, errors=errors)
        user, errors = await run_mutation(
            context,
            lambda transaction: context.auth.credentials.finish_password_change(
                transaction, principal, change
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
        context = info.context
        principal = await context.require_principal()
        try:
            session_id = node_uuid(input.session_id, "Session", ["input", "sessionId"])
        except NotFound as unknown:
            return RevokeSessionPayload(session=None, errors=[UserError.from_exception(unknown)])
        row, errors = await run_mutation(
            context,
            lambda transaction: context.auth.revoke_session(transaction, principal, session_id),
        )
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
        user, errors = await run_mutation(
            info.context,
            lambda transaction: identity_service.update_profile(
                transaction, principal.user_id, changes
            ),
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
            lambda transaction, uid: identity_service.set_active(transaction, uid, active=False),
        )

    @strawberry.mutation(
        permission_classes=[HasPermission(Permission.USERS_WRITE)], description="Reactivate a user."
    )
    async def activate_user(self, info: Info, input: UserIdInput) -> UserPayload:
        """Idempotent."""
        return await _run(
            info,
            input.user_id,
            lambda transaction, uid: identity_service.set_active(transaction, uid, active=True),
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
            info,
            input.user_id,
            lambda transaction, uid: identity_service.assign_role(transaction, uid, input.role),
        )

    @strawberry.mutation(
        permission_classes=[HasPermission(Permission.ROLES_WRITE)], description="Withdraw a role."
    )
    async def revoke_role(self, info: Info, input: RoleGrantInput) -> UserPayload:
        """The last active admin keeps the admin role."""
        return await _run(
            info,
            input.user_id,
            lambda transaction, uid: identity_service.revoke_role(transaction, uid, input.role),
        )
