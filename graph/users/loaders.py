"""Dataloaders of the identity domain: batched, per operation, scoped to the caller."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

from aiodataloader import DataLoader

from db.base import utcnow
from db.models import AuthSession, Role, User
from db.repositories import roles as role_repo
from db.repositories import sessions as session_repo
from db.repositories import users as user_repo
from db.repositories.scope import Viewer
from db.session import UnitOfWork

KeyT = TypeVar("KeyT")
ValueT = TypeVar("ValueT")


class ViewerSource(Protocol):
    """Where a loader finds the operation's caller when a batch runs."""

    @property
    def viewer(self) -> Viewer:
        """The caller (anonymous until resolved)."""
        ...


class KeyedScopedLoader(DataLoader[KeyT, ValueT], Generic[KeyT, ValueT]):
    """A loader bound to one operation's unit of work and caller, with any key type."""

    def __init__(self, uow: UnitOfWork, scope: ViewerSource) -> None:
        super().__init__()
        self.uow = uow
        self.scope = scope

    @property
    def viewer(self) -> Viewer:
        """The operation's caller at the time of the batch."""
        return self.scope.viewer


class ScopedLoader(KeyedScopedLoader[uuid.UUID, ValueT], Generic[ValueT]):
    """A scoped loader keyed by row id."""


class UsersById(ScopedLoader[User | None]):
    """Users the caller may see, by id (None for unknown and hidden alike)."""

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[User | None]:
        """One statement for the whole batch, results in key order."""
        found = await self.uow.query(user_repo.visible_by_ids, self.viewer, ids)
        return [found.get(user_id) for user_id in ids]


class RolesByUser(ScopedLoader[list[Role]]):
    """The live roles of users (callers only reach users they may see)."""

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[list[Role]]:
        """One statement for the whole batch."""
        found = await self.uow.query(user_repo.roles_of, ids)
        return [found.get(user_id, []) for user_id in ids]


class PermissionsByRole(ScopedLoader[list[str]]):
    """The permission names each role grants."""

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[list[str]]:
        """One statement for the whole batch."""
        found = await self.uow.query(role_repo.permissions_of_roles, ids)
        return [found.get(role_id, []) for role_id in ids]


class SessionsByUser(ScopedLoader[list[AuthSession]]):
    """Live sessions of users: the caller's own, or anyone's with sessions:read."""

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[list[AuthSession]]:
        """One statement for the whole batch."""
        found = await self.uow.query(session_repo.live_of_users, self.viewer, ids, utcnow())
        return [found.get(user_id, []) for user_id in ids]
