"""Dataloaders of the identity domain: batched, per operation, scoped to the caller."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from db.base import utcnow
from db.records.identity import RoleRecord, SessionRecord, UserView
from db.repositories import identity as identity_repo
from graph.common.loaders import ListLoader, RowLoader
from graph.context import current_scope


class UsersById(RowLoader[UserView]):
    """Users the caller may see, by id (None for unknown and hidden alike).

    Primed with the caller's own record by authentication, and with rows a write returned.
    """

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, UserView]:
        """One Core statement for the batch."""
        return await self.uow.query_core(identity_repo.users_by_ids, self.viewer, ids)


class RolesByUser(ListLoader[RoleRecord]):
    """The live roles of users (callers only reach users they may see)."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, list[RoleRecord]]:
        """One Core statement for the batch."""
        return await self.uow.query_core(identity_repo.roles_of_users, ids)


class PermissionsByRole(ListLoader[str]):
    """The permission names each role grants."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, list[str]]:
        """One statement for the batch."""
        return await self.uow.query_core(identity_repo.permissions_of_roles, ids)


class SessionsByUser(ListLoader[SessionRecord]):
    """Live sessions of users: the caller's own, or anyone's with sessions:read."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, list[SessionRecord]]:
        """One Core statement for the batch."""
        found = await self.uow.query_core(
            identity_repo.live_sessions_of_users, self.viewer, ids, utcnow()
        )
        scope = current_scope()
        for auth_session in (row for rows in found.values() for row in rows):
            scope.answer_changes_at(auth_session.expires_at)  # it leaves the list then
        return found
