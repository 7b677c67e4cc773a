"""Who is calling: the authenticated user, their session and their permissions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from auth.permissions import Permission


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller, resolved once per operation from a valid access token.

    Besides `can`, it answers the questions of `db.repositories.scope.Viewer`, so repositories
    scope their reads to it without knowing permission names.
    """

    user_id: uuid.UUID
    session_id: uuid.UUID
    username: str
    permissions: frozenset[str]
    is_admin: bool

    def can(self, permission: Permission) -> bool:
        """Whether the caller holds a permission."""
        return permission in self.permissions

    def sees_all_users(self) -> bool:
        """Whether the caller may read every user (`users:read`)."""
        return self.can(Permission.USERS_READ)

    def sees_all_sessions(self) -> bool:
        """Whether the caller may read every user's sessions (`sessions:read`)."""
        return self.can(Permission.SESSIONS_READ)

    def sees_all_holders(self) -> bool:
        """Whether the caller may read every account holder (`holders:read`)."""
        return self.can(Permission.HOLDERS_READ)

    def sees_all_accounts(self) -> bool:
        """Whether the caller may read every account (`accounts:read`)."""
        return self.can(Permission.ACCOUNTS_READ)

    def sees_all_audit(self) -> bool:
        """Whether the caller may read every audit row (`audit:read`)."""
        return self.can(Permission.AUDIT_READ)
