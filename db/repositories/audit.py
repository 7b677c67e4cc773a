"""Audit rows: filtered pages and counts, live-event reads, and the hash chain's statements.

Filtered reads are Core selects of `AuditLogRecord`'s columns, built once per filter shape;
the event bus still reads ORM rows (`rows_between`), which subscriptions render.

The chain's logic (hashing, what fits) lives in `db.audit.chain`; here are only the statements
it runs: lock and move the tip, insert rows (with NOTIFY on PostgreSQL), and read rows back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import RowMapping, Select, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import Base
from db.models import AuditLog
from db.models.audit import AuditChainHead
from db.records.audit import AuditLogRecord
from db.repositories.pages import Page, first_pages_by, first_pages_query, keyset_page
from db.repositories.rows import Reader, as_record, record_columns, records
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


_ROWS = AuditLog.__table__.c
_RECORD_COLUMNS = record_columns(AuditLog, AuditLogRecord)
_record = as_record(AuditLogRecord)
_EQUALITY_FILTERS = ("user_id", "action", "entity_type", "entity_id", "status")
"""The query's fields compared with `=`, named like their columns and bound parameters."""

Shape = tuple[bool, ...]
"""Which conditions a statement has: the viewer sees all rows, then one per query field."""


def _shape(query: AuditQuery, viewer: Viewer) -> Shape:
    values = (*(getattr(query, name) for name in _EQUALITY_FILTERS), query.since, query.until)
    return (viewer.sees_all_audit(), *(value is not None for value in values))


def _params(query: AuditQuery, viewer: Viewer, **extra: Any) -> dict[str, Any]:
    values = {name: getattr(query, name) for name in (*_EQUALITY_FILTERS, "since", "until")}
    if not viewer.sees_all_audit():
        values["viewer_id"] = viewer.user_id
    return {**{name: value for name, value in values.items() if value is not None}, **extra}


@cache
def _filtered(shape: Shape) -> Select[Any]:
    """The audit rows a viewer may see matching a query of `shape` (built once per shape)."""
    sees_all, *present = shape
    statement = select(*_RECORD_COLUMNS)
    if not sees_all:
        statement = statement.where(_ROWS.user_id == bindparam("viewer_id"))
    *equal, since, until = present
    for name, wanted in zip(_EQUALITY_FILTERS, equal, strict=True):
        if wanted:
            statement = statement.where(_ROWS[name] == bindparam(name))
    if since:
        statement = statement.where(_ROWS.created_at >= bindparam("since"))
    if until:
        statement = statement.where(_ROWS.created_at < bindparam("until"))
    return statement


@cache
def _newest_first(shape: Shape) -> Select[Any]:
    return _filtered(shape).order_by(_ROWS.sequence.desc())


@cache
def _first_pages(shape: Shape) -> Select[Any]:
    return first_pages_query(_filtered(shape), _ROWS.user_id, _ROWS.sequence)


@cache
def _counts_by_user(shape: Shape) -> Select[Any]:
    inner = (
        _filtered(shape)
        .where(_ROWS.user_id.in_(bindparam("user_ids", expanding=True)))
        .with_only_columns(_ROWS.user_id)
        .subquery()
    )
    return select(inner.c.user_id, func.count()).group_by(inner.c.user_id)


@cache
def _count(shape: Shape) -> Select[Any]:
    inner = _filtered(shape).with_only_columns(_ROWS.id).subquery()
    return select(func.count()).select_from(inner)


@cache
def _by_ids(shape: Shape) -> Select[Any]:
    return _filtered(shape).where(_ROWS.id.in_(bindparam("ids", expanding=True)))


async def list_page(
    reader: Reader, viewer: Viewer, query: AuditQuery, first: int | None, after: str | None
) -> Page[AuditLogRecord]:
    """One newest-first keyset page of the rows the viewer may see."""
    statement = _newest_first(_shape(query, viewer)).params(_params(query, viewer))
    return await keyset_page(reader, statement, first, after, ordering=NEWEST_FIRST, item=_record)


async def first_pages_by_user(
    reader: Reader,
    viewer: Viewer,
    query: AuditQuery,
    user_ids: Sequence[uuid.UUID],
    first: int | None,
) -> dict[uuid.UUID, Page[AuditLogRecord]]:
    """The first newest-first page of several users' rows, in one statement."""
    query = replace(query, user_id=None)
    return await first_pages_by(
        reader, _first_pages(_shape(query, viewer)), _params(query, viewer), user_ids,
        first=first, item=_record, group_of=_user_of, place=_place, ordering=NEWEST_FIRST,
    )  # fmt: skip


async def counts_by_user(
    reader: Reader, viewer: Viewer, query: AuditQuery, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """How many rows of each user match the query, in one statement."""
    query = replace(query, user_id=None)
    params = _params(query, viewer, user_ids=list(user_ids))
    rows = await reader.execute(_counts_by_user(_shape(query, viewer)), params)
    found = {user_id: int(total) for user_id, total in rows}
    return {user_id: found.get(user_id, 0) for user_id in user_ids}


def _user_of(row: AuditLogRecord) -> uuid.UUID | None:
    return row.user_id


def _place(row: AuditLogRecord) -> tuple[int]:
    return (row.sequence,)


async def count(reader: Reader, viewer: Viewer, query: AuditQuery) -> int:
    """How many rows the viewer may see match the query."""
    found = await reader.execute(_count(_shape(query, viewer)), _params(query, viewer))
    return int(found.scalar_one())


async def visible_by_ids(
    reader: Reader, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AuditLogRecord]:
    """The rows among `ids` the viewer may see."""
    query = AuditQuery()
    statement = _by_ids(_shape(query, viewer))
    params = _params(query, viewer, ids=list(ids))
    return {row.id: row for row in await records(reader, statement, params, AuditLogRecord)}


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

    The rows go through SQLAlchemy's executemany insert, whose compiled form is cached whatever
    the batch's size (one multi-row `INSERT` per batch on the wire). With `notify` (PostgreSQL:
    channel and payload) the move of the tip and the NOTIFY go out as one statement.
    """
    head_table = Base.metadata.tables["audit_chain_head"]
    sequence, tip_hash = tip
    move_tip = (
        update(head_table)
        .where(head_table.c.id == CHAIN_HEAD_ID)
        .values(sequence=sequence, hash=tip_hash)
    )
    await session.execute(insert(AuditLog), rows)
    if notify is None:
        await session.execute(move_tip)
        return
    moved = move_tip.cte("moved")
    channel, payload = notify
    await session.execute(select(func.pg_notify(channel, payload)).add_cte(moved))


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
