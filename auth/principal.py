"""Who is calling: the authenticated user, their session and their permissions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller, resolved once per operation from a valid access token."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    username: str
    permissions: frozenset[str]
    is_admin: bool

    def can(self, permission: str) -> bool:
        """Whether the caller holds a permission."""
        return permission in self.permissions

    def is_self_or_can(self, user_id: uuid.UUID, permission: str) -> bool:
        """Whether the caller is `user_id` or holds `permission`."""
        return self.user_id == user_id or self.can(permission)
