"""Statements reads: an account's balances and totals over whole UTC days."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ScalarSelect, Select, bindparam, case, func, select

from db.models import LedgerTransaction
from db.records.statements import PeriodFigures
from db.repositories.ledger import CREDITS
from db.repositories.rows import Reader, live

_LINES = LedgerTransaction.__table__.c


def _balance_before(moment: str) -> ScalarSelect[Any]:
    """The balance after the account's last live line before the bound instant `moment`."""
    return (
        select(_LINES.balance_after)
        .where(
            _LINES.account_id == bindparam("account_id"),
            _LINES.created_at < bindparam(moment),
            live(LedgerTransaction),
        )
        .order_by(_LINES.entry.desc())
        .limit(1)
        .scalar_subquery()
    )


def _figures() -> Select[Any]:
    credit = case((_LINES.type.in_(CREDITS), _LINES.amount), else_=0)
    debit = case((_LINES.type.not_in(CREDITS), _LINES.amount), else_=0)
    totals = (
        select(func.coalesce(func.sum(credit), 0), func.coalesce(func.sum(debit), 0))
        .where(
            _LINES.account_id == bindparam("account_id"),
            _LINES.created_at >= bindparam("start"),
            _LINES.created_at < bindparam("end"),
            live(LedgerTransaction),
        )
        .subquery()
    )
    return select(
        func.coalesce(_balance_before("start"), 0),
        func.coalesce(_balance_before("end"), 0),
        *totals.c,
    )


_FIGURES = _figures()
"""Built once; the account and the period are bound parameters."""


async def period_figures(
    reader: Reader, account_id: uuid.UUID, start: datetime, end: datetime
) -> PeriodFigures:
    """Opening and closing balance and the credit and debit totals over [start, end).

    Relies on `entry` order and `created_at` order agreeing within an account: a line is
    numbered and stamped while its account row is locked (db/services/ledger.py), so they do.
    """
    params = {"account_id": account_id, "start": start, "end": end}
    opening, closing, credits, debits = (await reader.execute(_FIGURES, params)).one()
    return PeriodFigures(int(opening), int(closing), int(credits), int(debits))
