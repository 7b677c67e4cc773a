"""The audit rows of sign-up, sign-in, refresh, sign-out and password changes."""

from __future__ import annotations

import uuid

from db.audit.entries import AuditEntry, json_safe
from db.models import AuditAction, AuditStatus


def auth_event(
    action: AuditAction,
    user_id: uuid.UUID | None,
    *,
    status: AuditStatus = AuditStatus.SUCCESS,
    description: str | None = None,
    error_message: str | None = None,
    **metadata: object,
) -> AuditEntry:
    """An authentication event about `user_id`."""
    return AuditEntry(
        action=action, status=status, user_id=user_id, entity_type="User",
        entity_id=str(user_id) if user_id else None, description=description,
        error_message=error_message, metadata=json_safe(metadata) or None,
    )  # fmt: skip


def login_failed(user_id: uuid.UUID | None, login: str, reason: str) -> AuditEntry:
    """A failed login: the attempted name is kept (truncated), the password never."""
    return auth_event(
        AuditAction.LOGIN_FAILED, user_id, status=AuditStatus.FAILURE,
        error_message=reason, attempted_login=login[:254],
    )  # fmt: skip


def refresh_failed(user_id: uuid.UUID, session_id: uuid.UUID, reason: str) -> AuditEntry:
    """A refused token refresh; durable, so that it is kept should the transaction fail."""
    entry = auth_event(
        AuditAction.TOKEN_REFRESH, user_id, status=AuditStatus.FAILURE,
        error_message=reason, session_id=session_id,
    )  # fmt: skip
    entry.durable = True
    return entry
