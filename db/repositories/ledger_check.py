"""Aggregate SQL that cross-checks the ledger: balances, running balances, entries, transfers.

Each check is one statement over every account or transfer (soft-deleted ones included) and
returns only the rows that do not add up, at most `MAX_FINDINGS` per check.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVarTuple

from sqlalchemy import Row, Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import INCLUDE_DELETED
from db.models import Account, LedgerTransaction, Transfer
from db.repositories.ledger import CREDITS

Columns = TypeVarTuple("Columns")
MAX_FINDINGS = 100
EVERYTHING = {INCLUDE_DELETED: True}


class ProblemKind(StrEnum):
    """What kind of thing does not add up."""

    BALANCE_MISMATCH = "BALANCE_MISMATCH"  # balance is not the sum of the account's lines
    BALANCE_AFTER_MISMATCH = "BALANCE_AFTER_MISMATCH"  # balance is not the newest balanceAfter
    LINE_BALANCE_MISMATCH = "LINE_BALANCE_MISMATCH"  # a line's balanceAfter is not the running sum
    ENTRY_GAP = "ENTRY_GAP"  # entries are not numbered 1..entries without gaps
    TRANSFER_UNBALANCED = "TRANSFER_UNBALANCED"  # not one matching debit and one matching credit
    AUDIT_CHAIN_BROKEN = "AUDIT_CHAIN_BROKEN"  # a row does not fit the keyed hash chain
    CHECKPOINT_MISMATCH = "CHECKPOINT_MISMATCH"  # the chain contradicts the latest checkpoint


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing that does not add up: its kind, the row it concerns, expected and found."""

    kind: ProblemKind
    account_id: uuid.UUID | None
    transfer_id: uuid.UUID | None
    expected: str
    found: str


def _signed_amount() -> Any:
    return case(
        (LedgerTransaction.type.in_(CREDITS), LedgerTransaction.amount),
        else_=-LedgerTransaction.amount,
    )


async def counts(session: AsyncSession) -> tuple[int, int]:
    """How many accounts and transfers there are, deleted ones included."""
    accounts = select(func.count()).select_from(Account).scalar_subquery()
    transfers = select(func.count()).select_from(Transfer).scalar_subquery()
    statement = select(accounts, transfers).execution_options(**EVERYTHING)
    found_accounts, found_transfers = (await session.execute(statement)).one()
    return int(found_accounts), int(found_transfers)


async def _run(session: AsyncSession, statement: Select[*Columns]) -> Sequence[Row[*Columns]]:
    limited = statement.limit(MAX_FINDINGS).execution_options(**EVERYTHING)
    return (await session.execute(limited)).all()


async def account_findings(session: AsyncSession) -> list[Finding]:
    """Accounts whose balance or entry counter disagrees with their ledger lines."""
    lines = (
        select(
            LedgerTransaction.account_id.label("account_id"),
            func.sum(_signed_amount()).label("total"),
            func.count().label("lines"),
            func.min(LedgerTransaction.entry).label("first_entry"),
            func.max(LedgerTransaction.entry).label("last_entry"),
        )
        .group_by(LedgerTransaction.account_id)
        .subquery()
    )
    newest = LedgerTransaction.__table__.alias("newest")
    total = func.coalesce(lines.c.total, 0)
    line_count = func.coalesce(lines.c.lines, 0)
    last_entry = func.coalesce(lines.c.last_entry, 0)
    newest_after = func.coalesce(newest.c.balance_after, 0)
    statement = (
        select(
            Account.id,
            Account.balance,
            Account.entries,
            total,
            line_count,
            func.coalesce(lines.c.first_entry, 1),
            last_entry,
            newest_after,
        )
        .outerjoin(lines, lines.c.account_id == Account.id)
        .outerjoin(
            newest,
            and_(newest.c.account_id == Account.id, newest.c.entry == lines.c.last_entry),
        )
        .where(
            or_(
                Account.balance != total,
                Account.balance != newest_after,
                Account.entries != line_count,
                Account.entries != last_entry,
                func.coalesce(lines.c.first_entry, 1) != 1,
            )
        )
        .order_by(Account.id)
    )
    findings = []
    for account_id, balance, entries, summed, count, first, last, after in await _run(
        session, statement
    ):
        if balance != summed:
            findings.append(
                Finding(ProblemKind.BALANCE_MISMATCH, account_id, None, str(summed), str(balance))
            )
        if balance != after:
            findings.append(
                Finding(
                    ProblemKind.BALANCE_AFTER_MISMATCH, account_id, None, str(after), str(balance)
                )
            )
        if not entries == count == last or first != 1:
            expected = f"entries 1..{entries}"
            found = f"{count} lines, entries {first}..{last}"
            findings.append(Finding(ProblemKind.ENTRY_GAP, account_id, None, expected, found))
    return findings


async def running_balance_findings(session: AsyncSession) -> list[Finding]:
    """Ledger lines whose `balanceAfter` is not the running sum of the account's lines."""
    running = (
        select(
            LedgerTransaction.account_id,
            LedgerTransaction.entry,
            LedgerTransaction.balance_after,
            func.sum(_signed_amount())
            .over(partition_by=LedgerTransaction.account_id, order_by=LedgerTransaction.entry)
            .label("running"),
        )
    ).subquery()
    statement = (
        select(running.c.account_id, running.c.entry, running.c.balance_after, running.c.running)
        .where(running.c.balance_after != running.c.running)
        .order_by(running.c.account_id, running.c.entry)
    )
    return [
        Finding(
            ProblemKind.LINE_BALANCE_MISMATCH,
            account_id,
            None,
            f"entry {entry}: {summed}",
            f"entry {entry}: {after}",
        )
        for account_id, entry, after, summed in await _run(session, statement)
    ]


async def transfer_findings(session: AsyncSession) -> list[Finding]:
    """Transfers that are not exactly one debit of the source and one credit of the target."""
    leg = LedgerTransaction

    def matching(kind: str, account: Any) -> Any:
        fits = and_(
            leg.type == kind,
            leg.account_id == account,
            leg.amount == Transfer.amount,
            leg.currency == Transfer.currency,
        )
        return func.sum(case((fits, 1), else_=0))

    def amount_of(kind: str) -> Any:
        return func.coalesce(func.sum(case((leg.type == kind, leg.amount), else_=0)), 0)

    legs = func.count(leg.id)
    statement = (
        select(
            Transfer.id,
            Transfer.amount,
            Transfer.currency,
            legs,
            amount_of("TRANSFER_OUT"),
            amount_of("TRANSFER_IN"),
        )
        .outerjoin(leg, leg.transfer_id == Transfer.id)
        .group_by(Transfer.id, Transfer.amount, Transfer.currency)
        .having(
            or_(
                legs != 2,
                func.coalesce(matching("TRANSFER_OUT", Transfer.from_account_id), 0) != 1,
                func.coalesce(matching("TRANSFER_IN", Transfer.to_account_id), 0) != 1,
            )
        )
        .order_by(Transfer.id)
    )
    return [
        Finding(
            ProblemKind.TRANSFER_UNBALANCED,
            None,
            transfer_id,
            f"2 legs: out {amount} {currency}, in {amount} {currency}",
            f"{count} legs: out {out}, in {into}",
        )
        for transfer_id, amount, currency, count, out, into in await _run(session, statement)
    ]
