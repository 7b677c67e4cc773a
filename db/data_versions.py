"""Which users a write transaction changed something for, so their data versions can be raised.

Every user has a `data_version` (db/models/identity.py). The response cache keys answers by it,
so every write transaction that changes anything a user can read must raise it, in the same
transaction. The ORM flush hook below notes the owners of every row a flush creates, changes
or deletes; statements that bypass the ORM (bulk session updates) note theirs with `note`.
`UnitOfWork.write` then raises the versions of all of them with one statement, as the
transaction's last step before its audit rows (none when nothing was noted).

Audit rows are not noted: operations that read them are never cached (graph/response_cache.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.orm import Session

from db.base import AppSession
from db.models import (
    Account,
    AccountHolder,
    AuthSession,
    Card,
    IdempotencyRecord,
    LedgerTransaction,
    Role,
    RolePermission,
    Transfer,
    User,
    UserRole,
)

CHANGES_KEY = "ledgerql_data_version_changes"
"""Key in `Session.info` holding the transaction's `Changes`."""


@dataclass(slots=True)
class Changes:
    """The owners of what a transaction changed, by the ids its rows carry."""

    user_ids: set[uuid.UUID] = field(default_factory=set)
    holder_ids: set[uuid.UUID] = field(default_factory=set)
    account_ids: set[uuid.UUID] = field(default_factory=set)
    session_ids: set[uuid.UUID] = field(default_factory=set)
    role_ids: set[uuid.UUID] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(
            self.user_ids or self.holder_ids or self.account_ids or self.session_ids
            or self.role_ids
        )  # fmt: skip

    def add(self, obj: object) -> None:
        """Note the owner(s) of one changed row (rows nobody reads through the API add none)."""
        match obj:
            case User():
                self.user_ids.add(obj.id)
            case UserRole() | AuthSession() | AccountHolder() | IdempotencyRecord():
                self.user_ids.add(obj.user_id)
            case Account():
                self.holder_ids.add(obj.holder_id)
            case LedgerTransaction() | Card():
                self.account_ids.add(obj.account_id)
            case Transfer():
                self.account_ids.update((obj.from_account_id, obj.to_account_id))
            case Role():
                self.role_ids.add(obj.id)
            case RolePermission():
                self.role_ids.add(obj.role_id)


def changes_of(session: Session) -> Changes:
    """The changes noted so far in a session's transaction."""
    changes = session.info.get(CHANGES_KEY)
    if changes is None:
        changes = session.info[CHANGES_KEY] = Changes()
    return changes


def note(
    session: Session,
    *,
    user_ids: Iterable[uuid.UUID] = (),
    session_ids: Iterable[uuid.UUID] = (),
) -> None:
    """Note owners changed by a statement that bypasses the ORM (a bulk UPDATE)."""
    changes = changes_of(session)
    changes.user_ids.update(user_ids)
    changes.session_ids.update(session_ids)


def take(session: Session) -> Changes:
    """The changes noted so far, forgotten by the session (they are being applied)."""
    changes: Changes | None = session.info.pop(CHANGES_KEY, None)
    return changes or Changes()


@event.listens_for(AppSession, "after_flush")
def _note_flushed(session: Session, _flush_context: object) -> None:
    """Note the owners of every row this flush created, changed or deleted."""
    changes = changes_of(session)
    for obj in (*session.new, *session.dirty, *session.deleted):
        changes.add(obj)
