"""Dataloaders of the accounts domain: batched, per operation, scoped to the caller."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from db.models import Account, AccountHolder
from db.repositories import accounts as account_repo
from graph.common.loaders import ListLoader, RowLoader


class HoldersById(RowLoader[AccountHolder]):
    """Holders the caller may see, by id (None for unknown and hidden alike)."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, AccountHolder]:
        """One statement for the batch."""
        return await self.uow.query(account_repo.holders_by_ids, self.viewer, ids)


class HoldersByUser(RowLoader[AccountHolder]):
    """Each user's holder profile, where the caller may see it."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, AccountHolder]:
        """One statement for the batch."""
        return await self.uow.query(account_repo.holders_by_users, self.viewer, ids)


class AccountsById(RowLoader[Account]):
    """Accounts the caller may see, by id."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, Account]:
        """One statement for the batch."""
        return await self.uow.query(account_repo.accounts_by_ids, self.viewer, ids)


class AccountsByHolder(ListLoader[Account]):
    """Each holder's accounts the caller may see, oldest first."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, list[Account]]:
        """One statement for the batch."""
        return await self.uow.query(account_repo.accounts_of_holders, self.viewer, ids)
