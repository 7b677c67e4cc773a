"""The audit trail: append-only, hash-chained rows, one per recorded action."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, utcnow

GENESIS_HASH = "0" * 64
"""The `previous hash` of the first row of the chain."""


class AuditAction(StrEnum):
    """What kind of thing happened."""

    CREATE = "CREATE"
    READ = "READ"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    LOGIN = "LOGIN"
    LOGIN_FAILED = "LOGIN_FAILED"
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"
    LOGOUT = "LOGOUT"
    TOKEN_REFRESH = "TOKEN_REFRESH"  # noqa: S105 - an action name
    TOKEN_REUSE = "TOKEN_REUSE"  # noqa: S105 - an action name
    TOKEN_REJECTED = "TOKEN_REJECTED"  # noqa: S105 - an action name
    PASSWORD_CHANGE = "PASSWORD_CHANGE"  # noqa: S105 - an action name
    PERMISSION_CHANGE = "PERMISSION_CHANGE"
    ACCESS_DENIED = "ACCESS_DENIED"


class AuditStatus(StrEnum):
    """Whether the recorded action succeeded."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


class AuditLog(Base):
    """One immutable audit row; `hash` covers the previous row's hash and this row's content.

    `hash` is HMAC-SHA256 under the key whose id is `key_id` (the key itself lives in settings
    only); rows from before keyed hashing have no `key_id` and a plain SHA-256 hash.

    No soft delete, no `updated_*` columns: database triggers refuse UPDATE and DELETE.
    `user_id` is the acting user (None for anonymous callers and the system); it is not a
    foreign key, so the trail outlives anything it mentions.
    """

    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("ix_audit_logs_user_id_sequence", "user_id", "sequence"),
        Index("ix_audit_logs_action_sequence", "action", "sequence"),
        Index("ix_audit_logs_entity_sequence", "entity_type", "entity_id", "sequence"),
        Index("ix_audit_logs_status_sequence", "status", "sequence"),
        Index("ix_audit_logs_created_at", "created_at"),
        CheckConstraint("status IN ('SUCCESS', 'FAILURE')", name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    sequence: Mapped[int] = mapped_column(BigInteger, unique=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    entity_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    entity_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    old_values: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    new_values: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    extra: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, nullable=True)
    key_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    previous_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The single row that holds the chain's tip; locking it orders appends.

    Writers take its row lock only for the last step of their transaction (insert the audit
    rows, move the tip, commit), never for the business work before it.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
