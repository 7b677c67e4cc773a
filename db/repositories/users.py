"""Users, their roles and permissions: every read scoped to what the viewer may see."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import INCLUDE_DELETED
from db.models import ADMIN_ROLE, Role, User, UserRole
from db.models.identity import username_key
from db.rate_limits import stored_key
from db.repositories.pages import Page, keyset_page
from db.repositories.scope import Viewer

READ_ALL_USERS = "users:read"


class UserSort(Enum):
    """Orderings offered by the users list."""

    CREATED_AT = "created_at"
    USERNAME = "username"
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class UserQuery:
    """Filters and ordering of the users list."""

    search: str | None = None
    is_active: bool | None = None
    role: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    include_deleted: bool = False
    sort: UserSort = UserSort.CREATED_AT
    descending: bool = False


def escape_like(text: str) -> str:
    """Make `%`, `_` and the escape character match themselves in a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def normalise_email(email: str) -> str:
    """Emails are compared case-insensitively: stored trimmed and lower-cased."""
    return email.strip().lower()


def login_key(login: str) -> str:
    """The canonical sign-in name that failures and locks are counted under, known or not.

    `email:<email>` when it has an `@` (no username has one), else `name:<username key>`.
    """
    key = "email:" + normalise_email(login) if "@" in login else "name:" + username_key(login)
    return stored_key(key)  # any length of client input fits its column


async def find_by_login(session: AsyncSession, login: str) -> User | None:
    """The live user whose email (if `login` has an `@`) or username key is `login`'s."""
    if "@" in login:
        condition = User.email == normalise_email(login)
    else:
        condition = User.username_key == username_key(login)
    return (await session.execute(select(User).where(condition))).scalars().first()


async def get(
    session: AsyncSession, user_id: uuid.UUID, *, for_update: bool = False
) -> User | None:
    """A live user by id (optionally locked for update)."""
    statement = select(User).where(User.id == user_id)
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalars().first()


async def taken(
    session: AsyncSession, *, username: str | None, email: str | None, exclude: uuid.UUID | None
) -> set[str]:
    """Which of `username` and `email` already belong to another live user."""
    conditions = []
    if username:
        conditions.append(User.username_key == username_key(username))
    if email:
        conditions.append(User.email == normalise_email(email))
    if not conditions:
        return set()
    statement = select(User.username_key, User.email).where(or_(*conditions))
    if exclude is not None:
        statement = statement.where(User.id != exclude)
    clashes: set[str] = set()
    for row in await session.execute(statement):
        if username and row.username_key == username_key(username):
            clashes.add("username")
        if email and row.email == normalise_email(email):
            clashes.add("email")
    return clashes


def _visible(statement: Select[Any], viewer: Viewer) -> Select[Any]:
    if viewer.can(READ_ALL_USERS):
        return statement
    return statement.where(User.id == viewer.user_id)


async def visible_by_ids(
    session: AsyncSession,
    viewer: Viewer,
    ids: Sequence[uuid.UUID],
    *,
    include_deleted: bool = False,
) -> dict[uuid.UUID, User]:
    """The users among `ids` that the viewer may see (themselves, or all with users:read)."""
    statement = _visible(select(User).where(User.id.in_(ids)), viewer)
    if include_deleted and viewer.can(READ_ALL_USERS):
        statement = statement.execution_options(**{INCLUDE_DELETED: True})
    return {user.id: user for user in (await session.execute(statement)).scalars()}


def _filtered(query: UserQuery) -> Select[Any]:
    statement = select(User)
    if query.search:
        pattern = f"%{escape_like(query.search.strip().lower())}%"
        statement = statement.where(
            or_(
                func.lower(User.username).like(pattern, escape="\\"),
                User.email.like(pattern, escape="\\"),
                func.lower(User.full_name).like(pattern, escape="\\"),
            )
        )
    if query.is_active is not None:
        statement = statement.where(User.is_active.is_(query.is_active))
    if query.role:
        statement = statement.where(
            User.id.in_(
                select(UserRole.user_id)
                .join(Role, Role.id == UserRole.role_id)
                .where(Role.name == query.role)
            )
        )
    if query.created_after:
        statement = statement.where(User.created_at >= query.created_after)
    if query.created_before:
        statement = statement.where(User.created_at < query.created_before)
    if query.include_deleted:
        statement = statement.execution_options(**{INCLUDE_DELETED: True})
    return statement


async def list_page(
    session: AsyncSession, query: UserQuery, first: int | None, after: str | None
) -> Page[User]:
    """One keyset page of users matching the query."""
    column = getattr(User, query.sort.value)
    key = column.desc() if query.descending else column.asc()
    tiebreak = User.id.desc() if query.descending else User.id.asc()
    ordering = f"{query.sort.value}:{'desc' if query.descending else 'asc'}"
    statement = _filtered(query).order_by(key, tiebreak)
    return await keyset_page(session, statement, first, after, ordering=ordering)


async def count(session: AsyncSession, query: UserQuery) -> int:
    """How many users match the query."""
    inner = _filtered(query).with_only_columns(User.id).order_by(None).subquery()
    statement = select(func.count()).select_from(inner)
    if query.include_deleted:
        statement = statement.execution_options(**{INCLUDE_DELETED: True})
    return int((await session.execute(statement)).scalar_one())


async def roles_of(
    session: AsyncSession, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Role]]:
    """Each user's live roles, in one statement."""
    statement = (
        select(UserRole.user_id, Role)
        .join(Role, Role.id == UserRole.role_id)
        .where(UserRole.user_id.in_(user_ids))
        .order_by(Role.name)
    )
    grouped: dict[uuid.UUID, list[Role]] = defaultdict(list)
    for user_id, role in await session.execute(statement):
        grouped[user_id].append(role)
    return grouped


async def active_admin_ids(session: AsyncSession) -> set[uuid.UUID]:
    """Ids of live, active users holding the admin role."""
    statement = (
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .join(Role, Role.id == UserRole.role_id)
        .where(Role.name == ADMIN_ROLE, User.is_active.is_(True))
    )
    return set((await session.execute(statement)).scalars())
