"""The caller as repositories see it: an id and a permission check (no dependency on auth)."""

from __future__ import annotations

import uuid
from typing import Protocol


class Viewer(Protocol):
    """Anything that can say who is asking and what they may read."""

    @property
    def user_id(self) -> uuid.UUID:
        """The calling user's id."""
        ...

    def can(self, permission: str) -> bool:
        """Whether the caller holds a permission."""
        ...
