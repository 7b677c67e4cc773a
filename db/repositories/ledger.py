"""Ledger reads (transactions newest first, transfers) and the idempotency keys of movements.

Reads are Core selects of the columns of `TransactionRecord` / `TransferRecord`, built once
per filter shape with bound parameters; they run on a session or a bare connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import IdempotencyRecord, LedgerTransaction, TransactionType, Transfer
from db.records.ledger import TransactionRecord, TransferRecord
from db.repositories.pages import Page, first_pages_by, first_pages_query, keyset_page
from db.repositories.rows import (
    Reader,
    as_record,
    live,
    record_columns,
    records,
    visible_account_ids,
)
from db.repositories.scope import Viewer

NEWEST_FIRST = "entry:desc"


CREDITS = tuple(kind.value for kind in TransactionType if kind.is_credit)
"""The transaction types that add to a balance."""

_LINES = LedgerTransaction.__table__.c
_TRANSFERS = Transfer.__table__.c
_LINE_COLUMNS = record_columns(LedgerTransaction, TransactionRecord)
_TRANSFER_COLUMNS = record_columns(Transfer, TransferRecord)
_line = as_record(TransactionRecord)


@dataclass(frozen=True, slots=True)
class TransactionQuery:
    """Filters of an account's transactions; all optional."""

    account_id: uuid.UUID | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def shape(self, viewer: Viewer) -> tuple[bool, bool, bool, bool, bool]:
        """Which conditions a statement for this query and viewer has (one statement each)."""
        return (
            viewer.sees_all_accounts(), self.account_id is not None, self.type is not None,
            self.since is not None, self.until is not None,
        )  # fmt: skip

    def params(self, viewer: Viewer) -> dict[str, Any]:
        """The bound values of the statement of `shape`."""
        values: dict[str, Any] = {
            "account_id": self.account_id, "type": self.type, "since": self.since,
            "until": self.until,
        }  # fmt: skip
        if not viewer.sees_all_accounts():
            values["viewer_id"] = viewer.user_id
        return {name: value for name, value in values.items() if value is not None}


@cache
def _transactions(
    sees_all: bool, by_account: bool, by_type: bool, since: bool, until: bool
) -> Select[Any]:
    """The live lines on accounts the viewer may see, filtered (built once per shape)."""
    statement = select(*_LINE_COLUMNS).where(
        _LINES.account_id.in_(visible_account_ids(sees_all)), live(LedgerTransaction)
    )
    if by_account:
        statement = statement.where(_LINES.account_id == bindparam("account_id"))
    if by_type:
        statement = statement.where(_LINES.type == bindparam("type"))
    if since:
        statement = statement.where(_LINES.created_at >= bindparam("since"))
    if until:
        statement = statement.where(_LINES.created_at < bindparam("until"))
    return statement


@cache
def _newest_first(shape: tuple[bool, bool, bool, bool, bool]) -> Select[Any]:
    return _transactions(*shape).order_by(_LINES.entry.desc())


@cache
def _first_pages(shape: tuple[bool, bool, bool, bool, bool]) -> Select[Any]:
    return first_pages_query(_transactions(*shape), _LINES.account_id, _LINES.entry)


@cache
def _counts(shape: tuple[bool, bool, bool, bool, bool]) -> Select[Any]:
    return (
        _transactions(*shape)
        .where(_LINES.account_id.in_(bindparam("account_ids", expanding=True)))
        .with_only_columns(_LINES.account_id, func.count())
        .group_by(_LINES.account_id)
    )


async def transactions_page(
    reader: Reader,
    viewer: Viewer,
    query: TransactionQuery,
    first: int | None,
    after: str | None,
) -> Page[TransactionRecord]:
    """One account's transactions (`query.account_id`), newest first."""
    statement = _newest_first(query.shape(viewer)).params(query.params(viewer))
    return await keyset_page(reader, statement, first, after, ordering=NEWEST_FIRST, item=_line)


async def first_transaction_pages(
    reader: Reader,
    viewer: Viewer,
    query: TransactionQuery,
    account_ids: Sequence[uuid.UUID],
    first: int | None,
) -> dict[uuid.UUID, Page[TransactionRecord]]:
    """The first page of several accounts' transactions, in one statement."""
    return await first_pages_by(
        reader, _first_pages(query.shape(viewer)), query.params(viewer), account_ids,
        first=first, item=_line, group_of=_account_of, place=_place, ordering=NEWEST_FIRST,
    )  # fmt: skip


def _account_of(row: TransactionRecord) -> uuid.UUID:
    return row.account_id


def _place(row: TransactionRecord) -> tuple[int]:
    return (row.entry,)


async def transactions_by_ids(
    reader: Reader, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, TransactionRecord]:
    """The transactions among `ids` the viewer may see."""
    query = TransactionQuery()
    statement = _by_ids(query.shape(viewer))
    params = {**query.params(viewer), "ids": list(ids)}
    found = await records(reader, statement, params, TransactionRecord)
    return {row.id: row for row in found}


@cache
def _by_ids(shape: tuple[bool, bool, bool, bool, bool]) -> Select[Any]:
    return _transactions(*shape).where(_LINES.id.in_(bindparam("ids", expanding=True)))


@cache
def _transfers_by_ids(sees_all: bool) -> Select[Any]:
    visible = visible_account_ids(sees_all)
    return select(*_TRANSFER_COLUMNS).where(
        _TRANSFERS.id.in_(bindparam("ids", expanding=True)),
        _TRANSFERS.from_account_id.in_(visible) | _TRANSFERS.to_account_id.in_(visible),
        live(Transfer),
    )


async def transfers_by_ids(
    reader: Reader, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, TransferRecord]:
    """The transfers among `ids` whose source or destination the viewer may see."""
    sees_all = viewer.sees_all_accounts()
    params: dict[str, Any] = {"ids": list(ids)}
    if not sees_all:
        params["viewer_id"] = viewer.user_id
    found = await records(reader, _transfers_by_ids(sees_all), params, TransferRecord)
    return {row.id: row for row in found}


async def transaction_counts(
    reader: Reader, viewer: Viewer, query: TransactionQuery, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """How many transactions match `query` on each account, in one statement."""
    params = {**query.params(viewer), "account_ids": list(account_ids)}
    rows = await reader.execute(_counts(query.shape(viewer)), params)
    found = {account_id: int(count) for account_id, count in rows}
    return {account_id: found.get(account_id, 0) for account_id in account_ids}


async def idempotency_record(
    session: AsyncSession, user_id: uuid.UUID, key: str
) -> IdempotencyRecord | None:
    """The stored outcome of the caller's movement under `key`, expired or not; None if unused."""
    statement = select(IdempotencyRecord).where(
        IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def forget_idempotency_record(session: AsyncSession, record: IdempotencyRecord) -> None:
    """Delete a stored key (an expired one, so the key is free again)."""
    await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id))


def remember_idempotency(session: AsyncSession, record: IdempotencyRecord) -> None:
    """Store a movement's key with its outcome; inserted by the transaction's next flush."""
    session.add(record)
