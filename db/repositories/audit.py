"""Audit rows: filtered pages and counts, live-event reads, and the hash chain's statements.

The chain's logic (hashing, what fits) lives in `db.audit.chain`; here are only the statements
it runs: lock and move the tip, insert rows (with NOTIFY on PostgreSQL), and read rows back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, Select, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import Base
from db.models import AuditLog
from db.models.audit import AuditChainHead
from db.repositories.pages import Page, first_pages_by, keyset_page
from db.repositories.scope import Viewer

NEWEST_FIRST = "sequence:desc"
CHAIN_HEAD_ID = 1
"""The id of the single `audit_chain_head` row."""


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


async def rows_between(session: AsyncSession, first: int, last: int) -> Sequence[AuditLog]:
    """The rows with sequences `first` to `last` (both included), in sequence order."""
    statement = (
        select(AuditLog).where(AuditLog.sequence.between(first, last)).order_by(AuditLog.sequence)
    )
    return (await session.execute(statement)).scalars().all()


async def head_sequence(session: AsyncSession) -> int:
    """The sequence of the chain's tip (0 when the chain is empty or has no head row)."""
    statement = select(AuditChainHead.sequence).where(AuditChainHead.id == CHAIN_HEAD_ID)
    return (await session.execute(statement)).scalar_one_or_none() or 0


def _head_statement() -> Select[int, str]:
    return select(AuditChainHead.sequence, AuditChainHead.hash).where(
        AuditChainHead.id == CHAIN_HEAD_ID
    )


async def chain_head(session: AsyncSession, *, for_update: bool = False) -> tuple[int, str]:
    """The chain's tip: sequence and hash; `for_update` locks it until the transaction ends."""
    statement = _head_statement()
    if for_update:
        statement = statement.with_for_update()
    sequence, tip = (await session.execute(statement)).one()
    return int(sequence), str(tip)


async def store_chained(
    session: AsyncSession,
    rows: Sequence[dict[str, Any]],
    tip: tuple[int, str],
    *,
    notify: tuple[str, str] | None = None,
) -> None:
    """Insert chained rows and move the tip to `tip` (sequence, hash), under the tip's lock.

    With `notify` (PostgreSQL: channel and payload) the insert, the move of the tip and the
    NOTIFY go out as one statement, so the lock is held for two round trips and the COMMIT.
    """
    head_table = Base.metadata.tables["audit_chain_head"]
    sequence, tip_hash = tip
    move_tip = (
        update(head_table)
        .where(head_table.c.id == CHAIN_HEAD_ID)
        .values(sequence=sequence, hash=tip_hash)
    )
    if notify is None:
        await session.execute(insert(AuditLog), rows)
        await session.execute(move_tip)
        return
    audit_table = Base.metadata.tables["audit_logs"]
    inserted = insert(audit_table).values([_column_values(row) for row in rows]).cte("inserted")
    moved = move_tip.cte("moved")
    channel, payload = notify
    statement = select(func.pg_notify(channel, payload)).add_cte(inserted).add_cte(moved)
    await session.execute(statement)


def _column_values(row: dict[str, Any]) -> dict[str, Any]:
    values = dict(row)
    values["metadata"] = values.pop("extra")  # the attribute `extra` is the column `metadata`
    return values


async def chain_batch(
    session: AsyncSession, names: Sequence[str], *, after: int | None, limit: int
) -> Sequence[RowMapping]:
    """Up to `limit` rows (the fields `names`) in sequence order, after sequence `after`."""
    columns = [getattr(AuditLog, name) for name in names]
    statement = select(*columns).order_by(AuditLog.sequence).limit(limit)
    if after is not None:
        statement = statement.where(AuditLog.sequence > after)
    return (await session.execute(statement)).mappings().all()


async def hash_of(session: AsyncSession, sequence: int) -> str | None:
    """The stored hash of the row at `sequence`; None when there is no such row."""
    statement = select(AuditLog.hash).where(AuditLog.sequence == sequence)
    return (await session.execute(statement)).scalar_one_or_none()
