"""Sign-up, sign-in, refresh, sign-out, password change and session revocation."""

from __future__ import annotations

import uuid

import strawberry

from db.errors import NotFound
from db.models import AuthSession
from graph.errors import UserError
from graph.mutations import attempt
from graph.permissions import (
    FailedLoginsPerAddress,
    IsAuthenticated,
    RateLimit,
    refund_login_attempt,
)
from graph.relay import parse_global_id
from graph.users.loaders import UsersById
from graph.users.types import Info, SessionNode, UserNode, parse_uuid


@strawberry.input
class RegisterInput:
    """A new account."""

    username: str
    email: str
    password: str
    full_name: str = ""


@strawberry.type
class RegisterPayload:
    """The new user, or why none was created."""

    user: UserNode | None
    errors: list[UserError]


@strawberry.input
class LoginInput:
    """Credentials; `username` accepts the username or the email."""

    username: str
    password: str


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


@strawberry.input
class RefreshTokenInput:
    """The refresh token to rotate."""

    refresh_token: str


@strawberry.type
class RefreshTokenPayload:
    """A new access token and a new refresh token (the old one is spent)."""

    access_token: str | None = None
    refresh_token: str | None = None
    expires_in: int | None = None
    refresh_expires_in: int | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class LogoutInput:
    """Which sessions to end."""

    all_sessions: bool = False


@strawberry.type
class LogoutPayload:
    """How many sessions ended."""

    revoked_sessions: int
    errors: list[UserError]


@strawberry.input
class ChangePasswordInput:
    """The current password and its replacement."""

    current_password: str
    new_password: str


@strawberry.type
class ChangePasswordPayload:
    """The user, or why the password was not changed."""

    user: UserNode | None
    errors: list[UserError]


@strawberry.input
class RevokeSessionInput:
    """One of your sessions."""

    session_id: strawberry.ID


@strawberry.type
class RevokeSessionPayload:
    """The ended session."""

    session: SessionNode | None
    errors: list[UserError]


async def _user(info: Info, user_id: uuid.UUID) -> UserNode | None:
    row = await info.context.loaders.get(UsersById).load(user_id)
    return UserNode.from_model(row) if row else None


@strawberry.type
class AuthMutations:
    """Identity mutations of the mutation root."""

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
