"""Permission classes: who may ask for a field. Object-level rules live in the repositories."""

from __future__ import annotations

from functools import cache
from typing import Any

import strawberry
from strawberry.permission import BasePermission

from db.errors import Forbidden
from graph.context import Context


class IsAuthenticated(BasePermission):
    """The caller presented a valid access token of a live session."""

    message = "Authentication is required."

    async def has_permission(
        self, source: Any, info: strawberry.Info[Context, None], **kwargs: Any
    ) -> bool:
        """Resolve the caller; UNAUTHENTICATED propagates with its own code."""
        await info.context.require_principal()
        return True


@cache
def HasPermission(permission: str) -> type[BasePermission]:  # noqa: N802 - reads as a class
    """A permission class requiring an authenticated caller holding `permission`."""

    class _HasPermission(BasePermission):
        message = f"Requires the `{permission}` permission."

        async def has_permission(
            self, source: Any, info: strawberry.Info[Context, None], **kwargs: Any
        ) -> bool:
            principal = await info.context.require_principal()
            if not principal.can(permission):
                raise Forbidden(self.message)
            return True

    _HasPermission.__name__ = _HasPermission.__qualname__ = f"HasPermission[{permission}]"
    return _HasPermission
