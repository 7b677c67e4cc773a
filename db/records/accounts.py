"""Rows of the accounts domain as reads return them, and what every view of one needs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol


class HolderView(Protocol):
    """What a holder looks like to its readers: a `HolderRecord` or an `AccountHolder` row."""

    @property
    def id(self) -> uuid.UUID: ...  # noqa: D102
    @property
    def user_id(self) -> uuid.UUID: ...  # noqa: D102
    @property
    def first_name(self) -> str: ...  # noqa: D102
    @property
    def last_name(self) -> str: ...  # noqa: D102
    @property
    def date_of_birth(self) -> date: ...  # noqa: D102
    @property
    def created_at(self) -> datetime: ...  # noqa: D102


class AccountView(Protocol):
    """What an account looks like to its readers: an `AccountRecord` or an `Account` row."""

    @property
    def id(self) -> uuid.UUID: ...  # noqa: D102
    @property
    def holder_id(self) -> uuid.UUID: ...  # noqa: D102
    @property
    def type(self) -> str: ...  # noqa: D102
    @property
    def currency(self) -> str: ...  # noqa: D102
    @property
    def balance(self) -> int: ...  # noqa: D102
    @property
    def status(self) -> str: ...  # noqa: D102
    @property
    def created_at(self) -> datetime: ...  # noqa: D102


@dataclass(frozen=True, slots=True)
class HolderRecord:
    """A live account holder, as read."""

    id: uuid.UUID
    user_id: uuid.UUID
    first_name: str
    last_name: str
    date_of_birth: date
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """A live account, as read (balance in integer minor units)."""

    id: uuid.UUID
    holder_id: uuid.UUID
    type: str
    currency: str
    balance: int
    status: str
    created_at: datetime
