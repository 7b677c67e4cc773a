"""Sign-in sessions: one refresh-token family each."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.base import columns_of, loaded_instance
from db.models import AuthSession, Permission, Role, RolePermission, User, UserRole
from db.repositories.scope import Viewer

READ_ALL_SESSIONS = "sessions:read"
PERMISSION_SEPARATOR = ","  # permission names are `resource:action`, never with a comma


async def with_user(
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


_sessions, _users = AuthSession.__table__, User.__table__
_permissions, _roles = Permission.__table__, Role.__table__
_grants, _holdings = RolePermission.__table__, UserRole.__table__
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
_SESSION_COLUMNS = columns_of(AuthSession)
_USER_COLUMNS = columns_of(User)
# A Core statement built once: it runs on every authenticated request, so it skips the ORM's
# per-execution work (the soft-delete criteria are spelled out instead) and SQLAlchemy reuses
# its memoized cache key.
_CALLER = (
    select(
        *[column.label(f"s_{key}") for key, column in _SESSION_COLUMNS.items()],
        *[column.label(f"u_{key}") for key, column in _USER_COLUMNS.items()],
        _PERMISSION_NAMES.label("permission_names"),
    )
    .select_from(_sessions.join(_users, _users.c.id == _sessions.c.user_id))
    .where(
        _sessions.c.id == bindparam("session_id"),
        _sessions.c.deleted_at.is_(None),
        _users.c.deleted_at.is_(None),
    )
)


async def caller(
    connection: AsyncConnection, session_id: uuid.UUID
) -> tuple[AuthSession, User, frozenset[str]] | None:
    """A session, its (live) user and the user's permissions: one Core statement per request."""
    row = (await connection.execute(_CALLER, {"session_id": session_id})).mappings().first()
    if row is None:
        return None
    session = loaded_instance(AuthSession, {key: row[f"s_{key}"] for key in _SESSION_COLUMNS})
    user = loaded_instance(User, {key: row[f"u_{key}"] for key in _USER_COLUMNS})
    names = row["permission_names"]
    permissions = frozenset(names.split(PERMISSION_SEPARATOR)) if names else frozenset()
    return session, user, permissions


async def get(
    session: AsyncSession, session_id: uuid.UUID, *, for_update: bool = False
) -> AuthSession | None:
    """A session by id."""
    statement = select(AuthSession).where(AuthSession.id == session_id)
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalars().first()


async def rotate(
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
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def revoke(
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
    return int(result.rowcount)  # type: ignore[attr-defined]


async def live_of_users(
    session: AsyncSession, viewer: Viewer, user_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, list[AuthSession]]:
    """Each user's live sessions, newest first, if the viewer is that user or may read all."""
    if not viewer.can(READ_ALL_SESSIONS):
        user_ids = [user_id for user_id in user_ids if user_id == viewer.user_id]
    if not user_ids:
        return {}
    statement = (
        select(AuthSession)
        .where(
            AuthSession.user_id.in_(user_ids),
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
        )
        .order_by(AuthSession.created_at.desc(), AuthSession.id)
    )
    grouped: dict[uuid.UUID, list[AuthSession]] = defaultdict(list)
    for row in (await session.execute(statement)).scalars():
        grouped[row.user_id].append(row)
    return grouped
