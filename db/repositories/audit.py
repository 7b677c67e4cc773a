"""Audit rows: filtered, newest-first pages, counts, and per-row checks for live events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AuditLog
from db.repositories.pages import Page, first_pages_by, keyset_page
from db.repositories.scope import Viewer

NEWEST_FIRST = "sequence:desc"


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of the audit log; every one optional, combined with AND."""

    user_id: uuid.UUID | None = None
    action: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, row: AuditLog) -> bool:
        """Whether a row passes the filters (for live events, which never touch SQL)."""
        return (
            (self.user_id is None or row.user_id == self.user_id)
            and (self.action is None or row.action == self.action)
            and (self.entity_type is None or row.entity_type == self.entity_type)
            and (self.entity_id is None or row.entity_id == self.entity_id)
            and (self.status is None or row.status == self.status)
            and (self.since is None or row.created_at >= self.since)
            and (self.until is None or row.created_at < self.until)
        )


def may_see(viewer: Viewer, row: AuditLog) -> bool:
    """Viewers who see all audit rows see this one; everybody else only their own."""
    return viewer.sees_all_audit() or (row.user_id is not None and row.user_id == viewer.user_id)


def _filtered(query: AuditQuery, viewer: Viewer) -> Select[Any]:
    statement = select(AuditLog)
    if not viewer.sees_all_audit():
        statement = statement.where(AuditLog.user_id == viewer.user_id)
    conditions = {
        AuditLog.user_id: query.user_id,
        AuditLog.action: query.action,
        AuditLog.entity_type: query.entity_type,
        AuditLog.entity_id: query.entity_id,
        AuditLog.status: query.status,
    }
    for column, value in conditions.items():
        if value is not None:
            statement = statement.where(column == value)
    if query.since is not None:
        statement = statement.where(AuditLog.created_at >= query.since)
    if query.until is not None:
        statement = statement.where(AuditLog.created_at < query.until)
    return statement


async def list_page(
    session: AsyncSession, viewer: Viewer, query: AuditQuery, first: int | None, after: str | None
) -> Page[AuditLog]:
    """One newest-first keyset page of the rows the viewer may see."""
    statement = _filtered(query, viewer).order_by(AuditLog.sequence.desc())
    return await keyset_page(session, statement, first, after, ordering=NEWEST_FIRST)


async def first_pages_by_user(
    session: AsyncSession,
    viewer: Viewer,
    query: AuditQuery,
    user_ids: Sequence[uuid.UUID],
    first: int | None,
) -> dict[uuid.UUID, Page[AuditLog]]:
    """The first newest-first page of several users' rows, in one statement."""
    statement = _filtered(replace(query, user_id=None), viewer)
    return await first_pages_by(
        session, statement, AuditLog.user_id, AuditLog.sequence, user_ids, first=first,
        place=_place, ordering=NEWEST_FIRST,
    )  # fmt: skip


async def counts_by_user(
    session: AsyncSession, viewer: Viewer, query: AuditQuery, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """How many rows of each user match the query, in one statement."""
    inner = (
        _filtered(replace(query, user_id=None), viewer)
        .where(AuditLog.user_id.in_(user_ids))
        .with_only_columns(AuditLog.user_id)
        .subquery()
    )
    statement = select(inner.c.user_id, func.count()).group_by(inner.c.user_id)
    found = {user_id: int(total) for user_id, total in await session.execute(statement)}
    return {user_id: found.get(user_id, 0) for user_id in user_ids}


def _place(row: AuditLog) -> tuple[int]:
    return (row.sequence,)


async def count(session: AsyncSession, viewer: Viewer, query: AuditQuery) -> int:
    """How many rows the viewer may see match the query."""
    inner = _filtered(query, viewer).with_only_columns(AuditLog.id).subquery()
    return int((await session.execute(select(func.count()).select_from(inner))).scalar_one())


async def visible_by_ids(
    session: AsyncSession, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AuditLog]:
    """The rows among `ids` the viewer may see."""
    statement = _filtered(AuditQuery(), viewer).where(AuditLog.id.in_(ids))
    return {row.id: row for row in (await session.execute(statement)).scalars()}
