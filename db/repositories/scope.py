"""The caller as repositories see it: an id and what it may read beyond its own rows.

The questions are semantic, so the data layer knows no permission names; `auth` answers them
from the caller's permissions.
"""

from __future__ import annotations

import uuid
from typing import Protocol


class Viewer(Protocol):
    """Anything that can say who is asking and which rows of others it may read."""

    @property
    def user_id(self) -> uuid.UUID:
        """The calling user's id."""
        ...

    def sees_all_users(self) -> bool:
        """Whether every user is visible, not only the caller."""
        ...

    def sees_all_sessions(self) -> bool:
        """Whether every user's sessions are visible, not only the caller's."""
        ...

    def sees_all_holders(self) -> bool:
        """Whether every account holder is visible, not only the caller's."""
        ...

    def sees_all_accounts(self) -> bool:
        """Whether every account is visible, not only the caller's."""
        ...

    def sees_all_audit(self) -> bool:
        """Whether every audit row is visible, not only those about the caller's actions."""
        ...
