"""Card records: a card as the read path returns it (never its number or fingerprint)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class CardFields(Protocol):
    """What a card's view reads: a `CardRecord` or a just-written ORM row."""

    @property
    def id(self) -> uuid.UUID:
        """The card's id."""
        ...

    @property
    def account_id(self) -> uuid.UUID:
        """The account it draws on."""
        ...

    @property
    def type(self) -> str:
        """A `CardType` value."""
        ...

    @property
    def last4(self) -> str:
        """The last four digits of its number."""
        ...

    @property
    def expiry_month(self) -> int:
        """1 to 12."""
        ...

    @property
    def expiry_year(self) -> int:
        """Four digits."""
        ...

    @property
    def status(self) -> str:
        """A `CardStatus` value."""
        ...

    @property
    def created_at(self) -> datetime:
        """When it was issued (UTC)."""
        ...


@dataclass(frozen=True, slots=True)
class CardRecord:
    """A card on an account."""

    id: uuid.UUID
    account_id: uuid.UUID
    type: str
    last4: str
    expiry_month: int
    expiry_year: int
    status: str
    created_at: datetime
