"""Ledger reads (transactions newest first, transfers) and the idempotency keys of movements."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import IdempotencyRecord, LedgerTransaction, TransactionType, Transfer
from db.repositories.accounts import visible_account_ids
from db.repositories.pages import Page, first_pages_by, keyset_page
from db.repositories.scope import Viewer

NEWEST_FIRST = "entry:desc"


CREDITS = tuple(kind.value for kind in TransactionType if kind.is_credit)
"""The transaction types that add to a balance."""


@dataclass(frozen=True, slots=True)
class TransactionQuery:
    """Filters of an account's transactions; all optional."""

    account_id: uuid.UUID | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _transactions(viewer: Viewer, query: TransactionQuery) -> Select[Any]:
    statement = select(LedgerTransaction).where(
        LedgerTransaction.account_id.in_(visible_account_ids(viewer))
    )
    if query.account_id is not None:
        statement = statement.where(LedgerTransaction.account_id == query.account_id)
    if query.type is not None:
        statement = statement.where(LedgerTransaction.type == query.type)
    if query.since is not None:
        statement = statement.where(LedgerTransaction.created_at >= query.since)
    if query.until is not None:
        statement = statement.where(LedgerTransaction.created_at < query.until)
    return statement


async def transactions_page(
    session: AsyncSession,
    viewer: Viewer,
    query: TransactionQuery,
    first: int | None,
    after: str | None,
) -> Page[LedgerTransaction]:
    """One account's transactions (`query.account_id`), newest first."""
    statement = _transactions(viewer, query).order_by(LedgerTransaction.entry.desc())
    return await keyset_page(session, statement, first, after, ordering=NEWEST_FIRST)


async def first_transaction_pages(
    session: AsyncSession,
    viewer: Viewer,
    query: TransactionQuery,
    account_ids: Sequence[uuid.UUID],
    first: int | None,
) -> dict[uuid.UUID, Page[LedgerTransaction]]:
    """The first page of several accounts' transactions, in one statement."""
    return await first_pages_by(
        session, _transactions(viewer, query), LedgerTransaction.account_id,
        LedgerTransaction.entry, account_ids, first=first, place=_place, ordering=NEWEST_FIRST,
    )  # fmt: skip


def _place(row: LedgerTransaction) -> tuple[int]:
    return (row.entry,)


async def transactions_by_ids(
    session: AsyncSession, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, LedgerTransaction]:
    """The transactions among `ids` the viewer may see."""
    statement = _transactions(viewer, TransactionQuery()).where(LedgerTransaction.id.in_(ids))
    return {row.id: row for row in (await session.execute(statement)).scalars()}


async def transfers_by_ids(
    session: AsyncSession, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Transfer]:
    """The transfers among `ids` whose source or destination the viewer may see."""
    visible = visible_account_ids(viewer)
    statement = select(Transfer).where(
        Transfer.id.in_(ids),
        Transfer.from_account_id.in_(visible) | Transfer.to_account_id.in_(visible),
    )
    return {row.id: row for row in (await session.execute(statement)).scalars()}


async def transaction_counts(
    session: AsyncSession, viewer: Viewer, query: TransactionQuery, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """How many transactions match `query` on each account, in one statement."""
    counted = (
        _transactions(viewer, query)
        .where(LedgerTransaction.account_id.in_(account_ids))
        .with_only_columns(LedgerTransaction.account_id, func.count())
        .group_by(LedgerTransaction.account_id)
    )
    found = {account_id: int(count) for account_id, count in (await session.execute(counted)).all()}
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
