"""Statements reads: an account's balances and totals over whole UTC days."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ScalarSelect, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LedgerTransaction
from db.repositories.ledger import CREDITS


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
    numbered and stamped while its account row is locked (db/services/ledger.py), so they do.
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
