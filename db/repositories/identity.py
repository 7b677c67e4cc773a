"""Identity reads and writes: users, roles, sessions (the caller of a token), sign-in throttles."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import data_versions
from db.base import INCLUDE_DELETED, columns_of
from db.models import (
    ADMIN_ROLE,
    AuthSession,
    LoginThrottle,
    Permission,
    Role,
    RolePermission,
    User,
    UserRole,
)
from db.models.identity import username_key
from db.rate_limits import stored_key
from db.records.identity import RoleRecord, SessionRecord, UserRecord
from db.repositories.pages import Page, keyset_page
from db.repositories.rows import Reader, grouped, insert_for, one_by
from db.repositories.scope import Viewer


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


async def get_user(
    session: AsyncSession, user_id: uuid.UUID, *, for_update: bool = False
) -> User | None:
    """A live user by id (optionally locked for update)."""
    return await one_by(session, User, User.id == user_id, for_update=for_update)


async def taken_names(
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


_users, _sessions = User.__table__, AuthSession.__table__
_roles, _holdings = Role.__table__, UserRole.__table__
_USER_FIELDS = tuple(field.name for field in fields(UserRecord))
_SESSION_FIELDS = tuple(field.name for field in fields(SessionRecord))
_USER_RECORD = [columns_of(User)[name].label(name) for name in _USER_FIELDS]
_SESSION_RECORD = [_sessions.c[name] for name in _SESSION_FIELDS]
_BY_USER_IDS = _users.c.id.in_(bindparam("ids", expanding=True))
_USERS_WITH_DELETED = select(*_USER_RECORD).where(_BY_USER_IDS)
_USERS = _USERS_WITH_DELETED.where(_users.c.deleted_at.is_(None))
_OWN_USER = _USERS.where(_users.c.id == bindparam("viewer"))
# Statements are built once, with bind parameters, so SQLAlchemy compiles each of them once.


async def users_by_ids(
    reader: Reader, viewer: Viewer, ids: Sequence[uuid.UUID], *, include_deleted: bool = False
) -> dict[uuid.UUID, UserRecord]:
    """The users among `ids` that the viewer may see (themselves, or all users)."""
    if not viewer.sees_all_users():
        statement = _OWN_USER
    else:
        statement = _USERS_WITH_DELETED if include_deleted else _USERS
    result = await reader.execute(statement, {"ids": list(ids), "viewer": viewer.user_id})
    return {row.id: UserRecord(*row) for row in result}


def _users_matching(query: UserQuery) -> Select[Any]:
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


async def users_page(
    session: AsyncSession, query: UserQuery, first: int | None, after: str | None
) -> Page[User]:
    """One keyset page of users matching the query."""
    column = getattr(User, query.sort.value)
    key = column.desc() if query.descending else column.asc()
    tiebreak = User.id.desc() if query.descending else User.id.asc()
    ordering = f"{query.sort.value}:{'desc' if query.descending else 'asc'}"
    statement = _users_matching(query).order_by(key, tiebreak)
    return await keyset_page(session, statement, first, after, ordering=ordering)


async def count_users(session: AsyncSession, query: UserQuery) -> int:
    """How many users match the query."""
    inner = _users_matching(query).with_only_columns(User.id).order_by(None).subquery()
    statement = select(func.count()).select_from(inner)
    if query.include_deleted:
        statement = statement.execution_options(**{INCLUDE_DELETED: True})
    return int((await session.execute(statement)).scalar_one())


_ROLE_RECORD = [_roles.c[field.name] for field in fields(RoleRecord)]
_ROLES_OF_USERS = (
    select(_holdings.c.user_id, *_ROLE_RECORD)
    .join_from(_holdings, _roles, _roles.c.id == _holdings.c.role_id)
    .where(
        _holdings.c.user_id.in_(bindparam("ids", expanding=True)),
        _holdings.c.deleted_at.is_(None),
        _roles.c.deleted_at.is_(None),
    )
    .order_by(_roles.c.name)
)
_PERMISSIONS_OF_ROLES = (
    select(RolePermission.role_id, Permission.name)
    .join(Permission, Permission.id == RolePermission.permission_id)
    .where(
        RolePermission.role_id.in_(bindparam("ids", expanding=True)),
        RolePermission.deleted_at.is_(None),
        Permission.deleted_at.is_(None),
    )
    .order_by(Permission.name)
)
_ALL_ROLES = select(*_ROLE_RECORD).where(_roles.c.deleted_at.is_(None)).order_by(_roles.c.name)


async def roles_of_users(
    reader: Reader, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[RoleRecord]]:
    """Each user's live roles, in one statement."""
    result = await reader.execute(_ROLES_OF_USERS, {"ids": list(user_ids)})
    return grouped((row[0], RoleRecord(*row[1:])) for row in result)


async def active_admin_ids(session: AsyncSession) -> set[uuid.UUID]:
    """Ids of live, active users holding the admin role."""
    statement = (
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .join(Role, Role.id == UserRole.role_id)
        .where(Role.name == ADMIN_ROLE, User.is_active.is_(True))
    )
    return set((await session.execute(statement)).scalars())


async def all_roles(reader: Reader) -> list[RoleRecord]:
    """Every live role, by name."""
    return [RoleRecord(*row) for row in await reader.execute(_ALL_ROLES)]


async def role_by_name(
    session: AsyncSession, name: str, *, for_update: bool = False
) -> Role | None:
    """A live role by name; `for_update` locks its row until the transaction ends."""
    return await one_by(session, Role, Role.name == name, for_update=for_update)


async def permissions_of_roles(
    reader: Reader, role_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """Each role's permission names, in one statement."""
    result = await reader.execute(_PERMISSIONS_OF_ROLES, {"ids": list(role_ids)})
    return grouped((role_id, name) for role_id, name in result)


async def role_membership(
    session: AsyncSession, user_id: uuid.UUID, role_id: uuid.UUID
) -> UserRole | None:
    """The live grant of a role to a user, if any."""
    statement = select(UserRole).where(UserRole.user_id == user_id, UserRole.role_id == role_id)
    return (await session.execute(statement)).scalars().first()


PERMISSION_SEPARATOR = ","  # permission names are `resource:action`, never with a comma


async def session_with_user(
    session: AsyncSession, session_id: uuid.UUID
) -> tuple[AuthSession, User] | None:
    """A session and its (live) user."""
    statement = (
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.id == session_id)
    )
    row = (await session.execute(statement)).first()
    return (row[0], row[1]) if row else None


_permissions, _grants = Permission.__table__, RolePermission.__table__
_PERMISSION_NAMES = (
    select(func.aggregate_strings(_permissions.c.name, PERMISSION_SEPARATOR))
    .select_from(
        _permissions.join(_grants, _grants.c.permission_id == _permissions.c.id)
        .join(_roles, _roles.c.id == _grants.c.role_id)
        .join(_holdings, _holdings.c.role_id == _roles.c.id)
    )
    .where(
        _holdings.c.user_id == _users.c.id,
        _permissions.c.deleted_at.is_(None),
        _grants.c.deleted_at.is_(None),
        _roles.c.deleted_at.is_(None),
        _holdings.c.deleted_at.is_(None),
    )
    .scalar_subquery()
)
# A Core statement built once: it runs on every authenticated request, so it skips the ORM's
# per-execution work (the soft-delete criteria are spelled out instead) and SQLAlchemy reuses
# its memoized cache key.
_CALLER = (
    select(*_SESSION_RECORD, *_USER_RECORD, _PERMISSION_NAMES.label("permission_names"))
    .select_from(_sessions.join(_users, _users.c.id == _sessions.c.user_id))
    .where(
        _sessions.c.id == bindparam("session_id"),
        _sessions.c.deleted_at.is_(None),
        _users.c.deleted_at.is_(None),
    )
)


async def caller(
    reader: Reader, session_id: uuid.UUID
) -> tuple[SessionRecord, UserRecord, frozenset[str]] | None:
    """A session, its (live) user and the user's permissions: one Core statement per request."""
    row = (await reader.execute(_CALLER, {"session_id": session_id})).first()
    if row is None:
        return None
    sessions, users = len(_SESSION_FIELDS), len(_USER_FIELDS)
    session = SessionRecord(*row[:sessions])
    user = UserRecord(*row[sessions : sessions + users])
    names = row[-1]
    permissions = frozenset(names.split(PERMISSION_SEPARATOR)) if names else frozenset()
    return session, user, permissions


async def get_session(
    session: AsyncSession, session_id: uuid.UUID, *, for_update: bool = False
) -> AuthSession | None:
    """A session by id."""
    return await one_by(session, AuthSession, AuthSession.id == session_id, for_update=for_update)


async def rotate_session(
    session: AsyncSession, session_id: uuid.UUID, *, old_jti: str, new_jti: str,
    now: datetime, expires_at: datetime,
) -> bool:  # fmt: skip
    """Swap the refresh token id only if it is still `old_jti` (compare-and-set)."""
    statement = (
        update(AuthSession)
        .where(
            AuthSession.id == session_id,
            AuthSession.refresh_jti == old_jti,
            AuthSession.revoked_at.is_(None),
        )
        .values(refresh_jti=new_jti, last_used_at=now, expires_at=expires_at, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(statement)
    data_versions.note(session.sync_session, session_ids=[session_id])
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def revoke_sessions(
    session: AsyncSession, *, user_id: uuid.UUID, now: datetime, reason: str,
    session_ids: Sequence[uuid.UUID] | None = None, keep: uuid.UUID | None = None,
) -> int:  # fmt: skip
    """Revoke a user's live sessions (all, or those listed, except `keep`); returns how many."""
    statement = update(AuthSession).where(
        AuthSession.user_id == user_id,
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > now,
    )
    if session_ids is not None:
        statement = statement.where(AuthSession.id.in_(session_ids))
    if keep is not None:
        statement = statement.where(AuthSession.id != keep)
    statement = statement.values(revoked_at=now, revoked_reason=reason, updated_at=now)
    result = await session.execute(statement.execution_options(synchronize_session=False))
    data_versions.note(session.sync_session, user_ids=[user_id])
    return int(result.rowcount)  # type: ignore[attr-defined]


_LIVE_SESSIONS_OF_USERS = (
    select(*_SESSION_RECORD)
    .where(
        _sessions.c.user_id.in_(bindparam("ids", expanding=True)),
        _sessions.c.revoked_at.is_(None),
        _sessions.c.expires_at > bindparam("now"),
        _sessions.c.deleted_at.is_(None),
    )
    .order_by(_sessions.c.created_at.desc(), _sessions.c.id)
)


async def live_sessions_of_users(
    reader: Reader, viewer: Viewer, user_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, list[SessionRecord]]:
    """Each user's live sessions, newest first, if the viewer is that user or may read all."""
    if not viewer.sees_all_sessions():
        user_ids = [user_id for user_id in user_ids if user_id == viewer.user_id]
    if not user_ids:
        return {}
    result = await reader.execute(_LIVE_SESSIONS_OF_USERS, {"ids": list(user_ids), "now": now})
    return grouped((record.user_id, record) for record in (SessionRecord(*row) for row in result))


FORGET_AFTER = timedelta(days=1)
"""Failures of a name that saw none for this long (and is not locked) are forgotten."""
PRUNE_BATCH = 100


async def sign_in_locked_until(session: AsyncSession, key: str) -> datetime | None:
    """When the last lock on `key` ends or ended (None when it has none); callers compare."""
    statement = select(LoginThrottle.locked_until).where(LoginThrottle.key == key)
    return (await session.execute(statement)).scalar_one_or_none()


async def sign_in_throttle_for_update(session: AsyncSession, key: str) -> LoginThrottle | None:
    """The throttle of `key`, row-locked until the transaction ends."""
    return await one_by(session, LoginThrottle, LoginThrottle.key == key, for_update=True)


async def record_sign_in_failure(
    session: AsyncSession, key: str, *, now: datetime, max_failures: int, lockout: timedelta
) -> tuple[LoginThrottle, bool]:
    """Count one more failure of `key`; returns the throttle and whether this failure locked it.

    A lock that has ended starts the count afresh. Stale rows are pruned first, skipping rows
    other transactions hold, so a flood of names cannot grow the table without end.
    """
    stale = (
        select(LoginThrottle.key)
        .where(
            LoginThrottle.last_failed_at < now - FORGET_AFTER,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
        )
        .limit(PRUNE_BATCH)
        .with_for_update(skip_locked=True)
    )
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(stale)))
    insert = insert_for(session)
    await session.execute(
        insert(LoginThrottle)
        .values(key=key, failures=0, locked_until=None, last_failed_at=now)
        .on_conflict_do_nothing(index_elements=[LoginThrottle.key])
    )
    locked = (
        select(LoginThrottle)
        .where(LoginThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)  # it may have been pruned and inserted anew
    )
    throttle = (await session.execute(locked)).scalar_one()
    if throttle.locked_until is not None and throttle.locked_until <= now:
        throttle.failures, throttle.locked_until = 0, None
    throttle.failures += 1
    throttle.last_failed_at = now
    newly_locked = throttle.locked_until is None and throttle.failures >= max_failures
    if newly_locked:
        throttle.locked_until = now + lockout
    await session.flush()
    return throttle, newly_locked


async def forget_sign_in_failures(session: AsyncSession, keys: Sequence[str]) -> None:
    """Clear the failures of `keys` (after a successful sign-in)."""
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))
