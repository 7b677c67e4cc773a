"""GraphQL types of the statements domain."""

from __future__ import annotations

import uuid
from datetime import date

import strawberry

from db.repositories import ledger as ledger_repo
from graph.accounts.types import AccountNode
from graph.common.info import Info
from graph.common.money import Money
from graph.ledger.types import TransactionConnection, transactions_of


@strawberry.type(description="An account's movements over whole UTC days, both ends included.")
class Statement:
    """Opening and closing balance, totals, and the period's transactions."""

    account: AccountNode
    from_: date = strawberry.field(name="from")
    to: date
    opening_balance: Money
    closing_balance: Money
    total_credits: Money
    total_debits: Money
    period: strawberry.Private[ledger_repo.TransactionQuery]

    @strawberry.field(description="The period's transactions, newest first.")
    async def transactions(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> TransactionConnection:
        """The account's transactions restricted to the period."""
        return await transactions_of(info, uuid.UUID(self.account.id), self.period, first, after)
