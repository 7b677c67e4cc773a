"""Identity and access: users, roles, permissions (through junction tables) and sessions."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, exists, select, text
from sqlalchemy.orm import Mapped, column_property, declared_attr, mapped_column, validates

from db.base import Base, Entity, UTCDateTime

ADMIN_ROLE = "admin"
USERNAME_KEY_LENGTH = 200
"""Room for a username of 50 characters after NFKC, which may expand a character."""


def username_key(username: str) -> str:
    """The form usernames are compared in: trimmed, NFKC-normalised and case-folded.

    Usernames themselves are ASCII, so this decides their case; a sign-in name typed as
    `STRASSE`, `Straße` or in full-width letters finds the account of `strasse`.
    """
    folded = unicodedata.normalize("NFKC", username.strip()).casefold()
    return unicodedata.normalize("NFKC", folded)[:USERNAME_KEY_LENGTH]


class Permission(Entity, Base):
    """A named capability such as `users:read`."""

    __tablename__ = "permissions"

    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")


class Role(Entity, Base):
    """A named set of permissions granted to users."""

    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")


class RolePermission(Entity, Base):
    """Junction: a permission granted to a role."""

    __tablename__ = "role_permissions"
    audit_grant = True
    role_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))
    permission_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("permissions.id", ondelete="CASCADE"), index=True
    )


class UserRole(Entity, Base):
    """Junction: a role granted to a user; revoking soft-deletes the row."""

    __tablename__ = "user_roles"
    audit_grant = True

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), index=True
    )


class User(Entity, Base):
    """A person who can sign in; `is_admin` is derived from the admin role, never stored."""

    __tablename__ = "users"
    # Sign-in bookkeeping is recorded as LOGIN / LOGIN_FAILED / ACCOUNT_LOCKED rows instead.
    # `failed_login_count` and `locked_until` mirror the throttle of the sign-in name last
    # tried (`login_throttles`), for operators; sign-in decisions read the throttle.
    # `data_version` is bookkeeping for the response cache (db/data_versions.py).
    audit_quiet = frozenset(
        {"last_login_at", "failed_login_count", "locked_until", "password_changed_at",
         "username_key",  # the key is derived from `username`, which is recorded
         "data_version"}
    )  # fmt: skip
    audit_permission_fields = frozenset({"is_active"})

    username: Mapped[str] = mapped_column(String(50))
    username_key: Mapped[str] = mapped_column(String(USERNAME_KEY_LENGTH))
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(100))
    full_name: Mapped[str] = mapped_column(String(200), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    password_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    failed_login_count: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    data_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    """Raised by every write transaction that changes something this user can read."""

    @validates("username")
    def _keep_username_key(self, _key: str, username: str) -> str:
        """Every assignment of a username also sets the key it is unique and looked up by."""
        self.username_key = username_key(username)
        return username

    @declared_attr
    def is_admin(cls) -> Mapped[bool]:  # noqa: N805
        """Whether the user holds the live admin role (derived, so it can never disagree).

        Not expired by flushes of other columns (role changes refresh the user explicitly), so
        a user returned from a write unit stays readable after the commit.
        """
        return column_property(
            exists(
                select(UserRole.id)
                .join(Role, Role.id == UserRole.role_id)
                .where(
                    UserRole.user_id == cls.id,
                    UserRole.deleted_at.is_(None),
                    Role.name == ADMIN_ROLE,
                    Role.deleted_at.is_(None),
                )
            ),
            expire_on_flush=False,
        )


def unique_while_live(name: str, model: type[Base], *column_names: str) -> Index:
    """A unique index over rows that are not soft-deleted (a partial index on both databases)."""
    columns = model.__table__.c
    live = columns.deleted_at.is_(None)
    return Index(
        name, *(columns[column] for column in column_names),
        unique=True, sqlite_where=live, postgresql_where=live,
    )  # fmt: skip


# A deleted user's username and email can be taken again; a revoked grant can be re-granted.
unique_while_live("uq_users_username_live", User, "username")
unique_while_live("uq_users_username_key_live", User, "username_key")
unique_while_live("uq_users_email_live", User, "email")
unique_while_live("uq_role_permissions_live", RolePermission, "role_id", "permission_id")
unique_while_live("uq_user_roles_live", UserRole, "user_id", "role_id")


class AuthSession(Entity, Base):
    """A signed-in device: one refresh-token family, rotated on every refresh."""

    __tablename__ = "auth_sessions"
    audited = False  # recorded as LOGIN, TOKEN_REFRESH and LOGOUT rows

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    refresh_jti: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    ip_address: Mapped[str] = mapped_column(String(64), default="")
    last_used_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(64), default=None)


class LoginThrottle(Base):
    """Consecutive failed sign-ins under one canonical sign-in name, and its lock.

    Kept per name as typed (`name:<username key>` or `email:<email>`), whether or not an account
    has that name, so an unknown name is locked exactly like a real one and the answers of the
    two cannot be told apart.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int]
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
