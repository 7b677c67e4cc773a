"""Audit entries waiting in a write session until its transaction appends them to the chain."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

from db.models.audit import AuditAction, AuditStatus

PENDING_KEY = "audit_pending"
"""Key in `Session.info` of the entries the current transaction will append."""

SECRET_FIELDS = frozenset({"password_hash", "refresh_jti", "token", "token_hash", "card_number"})
"""Column names whose values never enter an audit row, whatever the model says."""


@dataclass(slots=True)
class AuditContext:
    """Where the operation behind a unit of work comes from."""

    request_id: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None


@dataclass(slots=True)
class AuditEntry:
    """One action to record; `durable` entries are kept even when their transaction fails."""

    action: AuditAction
    status: AuditStatus = AuditStatus.SUCCESS
    entity_type: str | None = None
    entity_id: str | None = None
    old_values: dict[str, Any] | None = None
    new_values: dict[str, Any] | None = None
    description: str | None = None
    error_message: str | None = None
    metadata: dict[str, Any] | None = None
    user_id: uuid.UUID | None = None
    durable: bool = False
    ip_address: str | None = None  # the client's address when it is not the request's own


def record(session: Session | Any, entry: AuditEntry) -> None:
    """Queue an entry in a write session; it is chained and stored when the session commits.

    Accepts a sync `Session` or an `AsyncSession` (whose `info` is the same dictionary).
    """
    session.info.setdefault(PENDING_KEY, []).append(entry)


def take_pending(session: Session | Any) -> list[AuditEntry]:
    """Remove and return the entries queued in a session."""
    entries: list[AuditEntry] = session.info.pop(PENDING_KEY, [])
    return entries


def json_safe(value: Any) -> Any:  # noqa: PLR0911 - one return per type
    """A column value as JSON: ids and times as strings, enums by value, bytes left out."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return json_safe(value.value)
    if isinstance(value, Decimal | float):
        return str(value)
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return None


def user_event(
    action: AuditAction,
    user_id: uuid.UUID | None,
    *,
    status: AuditStatus = AuditStatus.SUCCESS,
    description: str | None = None,
    error_message: str | None = None,
    **metadata: object,
) -> AuditEntry:
    """An audit entry about what happened to `user_id`'s identity (sign-in, password, ...)."""
    return AuditEntry(
        action=action, status=status, user_id=user_id, entity_type="User",
        entity_id=str(user_id) if user_id else None, description=description,
        error_message=error_message, metadata=json_safe(metadata) or None,
    )  # fmt: skip
