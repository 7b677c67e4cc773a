"""GraphQL inputs of the ledger domain: money movements and transaction filters."""

from __future__ import annotations

from datetime import datetime

import strawberry

from db.repositories import ledger as ledger_repo
from graph.ledger.types import TransactionTypeEnum
from graph.scalars import Long


@strawberry.input(description="Filters of an account's transactions; all optional.")
class TransactionFilter:
    """What to include in `Account.transactions`."""

    type: TransactionTypeEnum | None = None  # type: ignore[valid-type]
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Created at or after."
    )
    to: datetime | None = strawberry.field(default=None, description="Created before.")

    def to_query(self) -> ledger_repo.TransactionQuery:
        """The repository query for this filter."""
        kind = self.type.value if self.type is not None else None
        return ledger_repo.TransactionQuery(type=kind, since=self.from_, until=self.to)


@strawberry.input
class MoneyMovementInput:
    """A deposit or withdrawal; the same `idempotencyKey` never moves money twice."""

    account_id: strawberry.ID
    amount: Long = strawberry.field(description="Minor units, 1 to 2^53 - 1.")
    idempotency_key: str
    description: str = ""


@strawberry.input
class TransferInput:
    """A transfer between two of your accounts in the same currency."""

    from_account_id: strawberry.ID
    to_account_id: strawberry.ID
    amount: Long = strawberry.field(description="Minor units, 1 to 2^53 - 1.")
    idempotency_key: str
    description: str = ""
