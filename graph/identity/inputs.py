"""GraphQL inputs of the identity domain: sign-up, sign-in, sessions, profiles, roles, lists."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from db.repositories import identity as identity_repo


@strawberry.enum(description="Fields the users list can be ordered by.")
class UserOrderField(Enum):
    """Sort keys of `users`."""

    CREATED_AT = "created_at"
    USERNAME = "username"
    EMAIL = "email"


@strawberry.enum(description="Sort direction.")
class OrderDirection(Enum):
    """Ascending or descending."""

    ASC = "asc"
    DESC = "desc"


@strawberry.input(description="How to order `users`.")
class UserOrder:
    """Sort key and direction."""

    field: UserOrderField = UserOrderField.CREATED_AT
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input(description="Filters of `users`; all optional and combined with AND.")
class UserFilter:
    """What to include in `users`."""

    search: str | None = strawberry.field(
        default=None, description="Part of the username, email or full name."
    )
    is_active: bool | None = None
    role: str | None = strawberry.field(default=None, description="A role name.")
    created_after: datetime | None = None
    created_before: datetime | None = None
    include_deleted: bool = False

    def to_query(self, order: UserOrder | None) -> identity_repo.UserQuery:
        """The repository query for this filter and ordering."""
        order = order or UserOrder()
        return identity_repo.UserQuery(
            search=self.search, is_active=self.is_active, role=self.role,
            created_after=self.created_after, created_before=self.created_before,
            include_deleted=self.include_deleted,
            sort=identity_repo.UserSort(order.field.value),
            descending=order.direction is OrderDirection.DESC,
        )  # fmt: skip


@strawberry.input
class RegisterInput:
    """A new account."""

    username: str
    email: str
    password: str
    full_name: str = ""


@strawberry.input
class LoginInput:
    """Credentials; `username` accepts the username or the email."""

    username: str
    password: str


@strawberry.input
class RefreshTokenInput:
    """The refresh token to rotate."""

    refresh_token: str


@strawberry.input
class LogoutInput:
    """Which sessions to end."""

    all_sessions: bool = False


@strawberry.input
class ChangePasswordInput:
    """The current password and its replacement."""

    current_password: str
    new_password: str


@strawberry.input
class RevokeSessionInput:
    """One of your sessions."""

    session_id: strawberry.ID


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
