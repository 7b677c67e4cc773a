"""Ledger records: a posted transaction and a transfer, as the read path returns them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class TransactionFields(Protocol):
    """What a transaction's view reads: a `TransactionRecord` or a just-written ORM row."""

    @property
    def id(self) -> uuid.UUID:
        """The transaction's id."""
        ...

    @property
    def account_id(self) -> uuid.UUID:
        """The account it was posted to."""
        ...

    @property
    def type(self) -> str:
        """A `TransactionType` value."""
        ...

    @property
    def amount(self) -> int:
        """Minor units, always positive."""
        ...

    @property
    def currency(self) -> str:
        """The account's currency."""
        ...

    @property
    def balance_after(self) -> int:
        """The account's balance once this line was posted."""
        ...

    @property
    def description(self) -> str:
        """Free text from the caller."""
        ...

    @property
    def transfer_id(self) -> uuid.UUID | None:
        """The transfer this line is a leg of, if any."""
        ...

    @property
    def created_at(self) -> datetime:
        """When it was posted (UTC)."""
        ...


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    """One posted ledger line; `entry` numbers the account's lines (its page order)."""

    id: uuid.UUID
    account_id: uuid.UUID
    entry: int
    type: str
    amount: int
    currency: str
    balance_after: int
    description: str
    transfer_id: uuid.UUID | None
    created_at: datetime


class TransferFields(Protocol):
    """What a transfer's view reads: a `TransferRecord` or a just-written ORM row."""

    @property
    def id(self) -> uuid.UUID:
        """The transfer's id."""
        ...

    @property
    def from_account_id(self) -> uuid.UUID:
        """Where the money came from."""
        ...

    @property
    def to_account_id(self) -> uuid.UUID:
        """Where the money went."""
        ...

    @property
    def amount(self) -> int:
        """Minor units, always positive."""
        ...

    @property
    def currency(self) -> str:
        """The currency of both accounts."""
        ...

    @property
    def description(self) -> str:
        """Free text from the caller."""
        ...

    @property
    def created_at(self) -> datetime:
        """When it was made (UTC)."""
        ...


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """Money moved between two accounts."""

    id: uuid.UUID
    from_account_id: uuid.UUID
    to_account_id: uuid.UUID
    amount: int
    currency: str
    description: str
    created_at: datetime
