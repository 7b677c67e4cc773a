"""The accounts domain: account holders and their accounts."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, Entity
from db.models.identity import unique_while_live
from db.money import MAX_BALANCE


class AccountType(StrEnum):
    """Kinds of account."""

    CHECKING = "CHECKING"
    SAVINGS = "SAVINGS"


class AccountStatus(StrEnum):
    """Whether an account accepts money movements."""

    ACTIVE = "ACTIVE"
    FROZEN = "FROZEN"
    CLOSED = "CLOSED"


class AccountHolder(Entity, Base):
    """The person behind accounts: one per user."""

    __tablename__ = "account_holders"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date] = mapped_column(Date)


class Account(Entity, Base):
    """Money in one currency, in integer minor units; `entries` numbers its ledger lines."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint(f"balance <= {MAX_BALANCE}", name="balance_within_limit"),
        CheckConstraint("status IN ('ACTIVE', 'FROZEN', 'CLOSED')", name="status"),
    )
    audit_quiet = frozenset({"entries"})

    holder_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("account_holders.id"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16), default=AccountStatus.ACTIVE.value)
    entries: Mapped[int] = mapped_column(BigInteger, default=0)


unique_while_live("uq_account_holders_user_live", AccountHolder, "user_id")
