"""Audit records: an audit row as the read path returns it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


class AuditLogFields(Protocol):
    """What an audit row's view reads: an `AuditLogRecord` or an ORM row from the event bus."""

    @property
    def id(self) -> uuid.UUID:
        """The row's id."""
        ...

    @property
    def sequence(self) -> int:
        """Its position in the chain, from 1."""
        ...

    @property
    def user_id(self) -> uuid.UUID | None:
        """Who acted (None for the system)."""
        ...

    @property
    def action(self) -> str:
        """An `AuditAction` value."""
        ...

    @property
    def entity_type(self) -> str | None:
        """The kind of thing acted on."""
        ...

    @property
    def entity_id(self) -> str | None:
        """The id of the thing acted on."""
        ...

    @property
    def old_values(self) -> dict[str, Any] | None:
        """Values before a change."""
        ...

    @property
    def new_values(self) -> dict[str, Any] | None:
        """Values after a change."""
        ...

    @property
    def description(self) -> str | None:
        """Free text."""
        ...

    @property
    def ip_address(self) -> str | None:
        """The caller's address."""
        ...

    @property
    def user_agent(self) -> str | None:
        """The caller's user agent."""
        ...

    @property
    def status(self) -> str:
        """An `AuditStatus` value."""
        ...

    @property
    def error_message(self) -> str | None:
        """Why it failed, if it did."""
        ...

    @property
    def request_id(self) -> str | None:
        """The request that wrote it."""
        ...

    @property
    def created_at(self) -> datetime:
        """When it was written (UTC)."""
        ...

    @property
    def extra(self) -> dict[str, Any] | None:
        """The `metadata` column."""
        ...

    @property
    def hash(self) -> str:
        """The chain hash over the previous hash and this row."""
        ...


@dataclass(frozen=True, slots=True)
class AuditLogRecord:
    """One hash-chained audit row; `extra` is the `metadata` column."""

    id: uuid.UUID
    sequence: int
    user_id: uuid.UUID | None
    action: str
    entity_type: str | None
    entity_id: str | None
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    description: str | None
    ip_address: str | None
    user_agent: str | None
    status: str
    error_message: str | None
    request_id: str | None
    created_at: datetime
    extra: dict[str, Any] | None
    hash: str
