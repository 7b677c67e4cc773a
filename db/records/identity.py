"""Rows of the identity domain as reads return them, and what every view of one needs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class UserView(Protocol):
    """What a user looks like to its readers: a `UserRecord` or a `User` row."""

    @property
    def id(self) -> uuid.UUID: ...  # noqa: D102
    @property
    def username(self) -> str: ...  # noqa: D102
    @property
    def email(self) -> str: ...  # noqa: D102
    @property
    def full_name(self) -> str: ...  # noqa: D102
    @property
    def is_active(self) -> bool: ...  # noqa: D102
    @property
    def is_admin(self) -> bool: ...  # noqa: D102
    @property
    def created_at(self) -> datetime: ...  # noqa: D102
    @property
    def updated_at(self) -> datetime: ...  # noqa: D102
    @property
    def last_login_at(self) -> datetime | None: ...  # noqa: D102
    @property
    def deleted_at(self) -> datetime | None: ...  # noqa: D102


class SessionView(Protocol):
    """What a session looks like to its readers: a `SessionRecord` or an `AuthSession` row."""

    @property
    def id(self) -> uuid.UUID: ...  # noqa: D102
    @property
    def user_id(self) -> uuid.UUID: ...  # noqa: D102
    @property
    def created_at(self) -> datetime: ...  # noqa: D102
    @property
    def last_used_at(self) -> datetime: ...  # noqa: D102
    @property
    def expires_at(self) -> datetime: ...  # noqa: D102
    @property
    def revoked_at(self) -> datetime | None: ...  # noqa: D102
    @property
    def ip_address(self) -> str: ...  # noqa: D102
    @property
    def user_agent(self) -> str: ...  # noqa: D102


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user, as read (never its password hash)."""

    id: uuid.UUID
    username: str
    email: str
    full_name: str
    is_active: bool
    is_admin: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None
    deleted_at: datetime | None
    data_version: int
    """Raised with every change the user can see (the response cache's key)."""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A sign-in session, as read (never its refresh token id)."""

    id: uuid.UUID
    user_id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    ip_address: str
    user_agent: str


@dataclass(frozen=True, slots=True)
class RoleRecord:
    """A live role, as read."""

    id: uuid.UUID
    name: str
    description: str
