"""Dataloaders of the cards domain: batched, per operation, scoped to the caller."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from db.records.cards import CardRecord
from db.repositories import cards as card_repo
from graph.common.loaders import ListLoader, RowLoader


class CardsById(RowLoader[CardRecord]):
    """Cards on accounts the caller may see, by id."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, CardRecord]:
        """One statement for the batch."""
        return await self.uow.query_core(card_repo.cards_by_ids, self.viewer, ids)


class CardsByAccount(ListLoader[CardRecord]):
    """Each account's cards, oldest first."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, list[CardRecord]]:
        """One statement for the batch."""
        return await self.uow.query_core(card_repo.cards_of_accounts, self.viewer, ids)
