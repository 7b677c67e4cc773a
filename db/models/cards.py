"""The cards domain: cards on accounts (never their numbers)."""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, Entity


class CardType(StrEnum):
    """Kinds of card."""

    DEBIT = "DEBIT"
    VIRTUAL = "VIRTUAL"


class CardStatus(StrEnum):
    """A card's state; CANCELLED is final."""

    ACTIVE = "ACTIVE"
    FROZEN = "FROZEN"
    CANCELLED = "CANCELLED"


class Card(Entity, Base):
    """A card on an account: only the last four digits and a keyed fingerprint are kept."""

    __tablename__ = "cards"
    __table_args__ = (
        CheckConstraint("status IN ('ACTIVE', 'FROZEN', 'CANCELLED')", name="status"),
    )
    audit_quiet = frozenset({"fingerprint"})

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    last4: Mapped[str] = mapped_column(String(4))
    expiry_month: Mapped[int]
    expiry_year: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=CardStatus.ACTIVE.value)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
