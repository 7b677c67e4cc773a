"""Ledger reads: transactions (newest first), transfers, cards and statement figures."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ScalarSelect, Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.errors import ValidationFailed
from db.models import Account, AccountHolder, Card, LedgerTransaction, Transfer
from db.repositories.accounts import READ_ALL_ACCOUNTS
from db.repositories.pages import Page, first_pages_by, keyset_page
from db.repositories.scope import Viewer

NEWEST_FIRST = "entry:desc"
CREDITS = ("DEPOSIT", "TRANSFER_IN")


@dataclass(frozen=True, slots=True)
class TransactionQuery:
    """Filters of an account's transactions; all optional."""

    account_id: uuid.UUID | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _visible_account_ids(viewer: Viewer) -> Select[Any]:
    ids = select(Account.id)
    if viewer.can(READ_ALL_ACCOUNTS):
        return ids
    return ids.join(AccountHolder, AccountHolder.id == Account.holder_id).where(
        AccountHolder.user_id == viewer.user_id
    )


def _transactions(viewer: Viewer, query: TransactionQuery) -> Select[Any]:
    statement = select(LedgerTransaction).where(
        LedgerTransaction.account_id.in_(_visible_account_ids(viewer))
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
    visible = _visible_account_ids(viewer)
    statement = select(Transfer).where(
        Transfer.id.in_(ids),
        Transfer.from_account_id.in_(visible) | Transfer.to_account_id.in_(visible),
    )
    return {row.id: row for row in (await session.execute(statement)).scalars()}


async def cards_by_ids(
    session: AsyncSession, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Card]:
    """The cards among `ids` on accounts the viewer may see."""
    statement = select(Card).where(
        Card.id.in_(ids), Card.account_id.in_(_visible_account_ids(viewer))
    )
    return {row.id: row for row in (await session.execute(statement)).scalars()}


async def cards_of_accounts(
    session: AsyncSession, viewer: Viewer, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Card]]:
    """Each account's cards (oldest first), in one statement."""
    statement = (
        select(Card)
        .where(Card.account_id.in_(account_ids), Card.account_id.in_(_visible_account_ids(viewer)))
        .order_by(Card.created_at, Card.id)
    )
    grouped: dict[uuid.UUID, list[Card]] = {account_id: [] for account_id in account_ids}
    for row in (await session.execute(statement)).scalars():
        grouped[row.account_id].append(row)
    return grouped


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    """Balances and totals of one account over [start, end)."""

    opening: int
    closing: int
    credits: int
    debits: int


async def period_figures(
    session: AsyncSession, account_id: uuid.UUID, start: datetime, end: datetime
) -> PeriodFigures:
    """Opening and closing balance and the credit and debit totals over [start, end).

    Relies on `entry` order and `created_at` order agreeing within an account: a line is
    numbered and stamped while its account row is locked (db/services/money.py), so they do.
    """

    def balance_before(moment: datetime) -> ScalarSelect[Any]:
        return (
            select(LedgerTransaction.balance_after)
            .where(
                LedgerTransaction.account_id == account_id,
                LedgerTransaction.created_at < moment,
            )
            .order_by(LedgerTransaction.entry.desc())
            .limit(1)
            .scalar_subquery()
        )

    credit = case((LedgerTransaction.type.in_(CREDITS), LedgerTransaction.amount), else_=0)
    debit = case((LedgerTransaction.type.not_in(CREDITS), LedgerTransaction.amount), else_=0)
    totals = (
        select(func.coalesce(func.sum(credit), 0), func.coalesce(func.sum(debit), 0))
        .where(
            LedgerTransaction.account_id == account_id,
            LedgerTransaction.created_at >= start,
            LedgerTransaction.created_at < end,
        )
        .subquery()
    )
    statement = select(
        func.coalesce(balance_before(start), 0),
        func.coalesce(balance_before(end), 0),
        *totals.c,
    )
    opening, closing, credits, debits = (await session.execute(statement)).one()
    return PeriodFigures(int(opening), int(closing), int(credits), int(debits))


MAX_STATEMENT_DAYS = 366


def statement_period(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC for whole days `first_day`..`last_day`; VALIDATION_FAILED if invalid."""
    if last_day < first_day:
        raise ValidationFailed("`to` must not be before `from`.", field=["to"])
    if (last_day - first_day).days >= MAX_STATEMENT_DAYS:
        msg = f"A statement covers at most {MAX_STATEMENT_DAYS} days."
        raise ValidationFailed(msg, field=["to"])
    if last_day >= date.max:  # the day after it, where the period ends, does not exist
        raise ValidationFailed(f"`to` must be before {date.max.isoformat()}.", field=["to"])
    start = datetime.combine(first_day, time.min, tzinfo=UTC)
    return start, datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=UTC)


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
