"""Dataloaders of the accounts domain: batched, per operation, scoped to the caller."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from db.records.accounts import AccountRecord, AccountView, HolderRecord
from db.repositories import accounts as account_repo
from graph.common.loaders import ListLoader, RowLoader


class HoldersById(RowLoader[HolderRecord]):
    """Holders the caller may see, by id (None for unknown and hidden alike)."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, HolderRecord]:
        """One Core statement for the batch."""
        return await self.uow.query_core(account_repo.holders_by_ids, self.viewer, ids)


class HoldersByUser(RowLoader[HolderRecord]):
    """Each user's holder profile, where the caller may see it."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, HolderRecord]:
        """One Core statement for the batch."""
        return await self.uow.query_core(account_repo.holders_by_users, self.viewer, ids)


class AccountsById(RowLoader[AccountView]):
    """Accounts the caller may see, by id (primed with rows a write just returned)."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, AccountView]:
        """One Core statement for the batch."""
        return await self.uow.query_core(account_repo.accounts_by_ids, self.viewer, ids)


class AccountsByHolder(ListLoader[AccountRecord]):
    """Each holder's accounts the caller may see, oldest first."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, list[AccountRecord]]:
        """One Core statement for the batch."""
        return await self.uow.query_core(account_repo.accounts_of_holders, self.viewer, ids)


class AccountsByUser(ListLoader[AccountRecord]):
    """Each user's accounts the caller may see, oldest first, without reading the holder."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, list[AccountRecord]]:
        """One Core statement for the batch."""
        return await self.uow.query_core(account_repo.accounts_of_users, self.viewer, ids)
