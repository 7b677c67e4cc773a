"""Dataloaders of the ledger domain: batched, per operation, scoped to the caller."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from db.records.ledger import TransactionRecord, TransferFields, TransferRecord
from db.repositories import ledger as ledger_repo
from db.repositories.pages import Page
from graph.common.loaders import GroupedLoader, RowLoader


class TransfersById(RowLoader[TransferFields]):
    """Transfers touching an account the caller may see, by id (primed with written rows)."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, TransferRecord]:
        """One statement for the batch."""
        return await self.uow.query_core(ledger_repo.transfers_by_ids, self.viewer, ids)


PageOptions = tuple[ledger_repo.TransactionQuery, int | None]
"""(filters without the account, `first`)."""


class TransactionFirstPages(GroupedLoader[PageOptions, Page[TransactionRecord]]):
    """First pages of many accounts' transactions (`Account.transactions` in lists)."""

    async def fetch(
        self, options: PageOptions, owner_ids: list[uuid.UUID]
    ) -> Mapping[uuid.UUID, Page[TransactionRecord]]:
        """One window-function statement for every account in the group."""
        query, first = options
        return await self.uow.query_core(
            ledger_repo.first_transaction_pages, self.viewer, query, owner_ids, first
        )


class TransactionCounts(GroupedLoader[ledger_repo.TransactionQuery, int]):
    """Transaction counts of many accounts (`totalCount` in lists)."""

    async def fetch(
        self, options: ledger_repo.TransactionQuery, owner_ids: list[uuid.UUID]
    ) -> Mapping[uuid.UUID, int]:
        """One GROUP BY statement for every account in the group."""
        return await self.uow.query_core(
            ledger_repo.transaction_counts, self.viewer, options, owner_ids
        )
