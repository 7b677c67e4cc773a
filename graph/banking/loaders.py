"""Dataloaders of the banking domain: batched, per operation, scoped to the caller."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from db.models import Account, AccountHolder, Card, LedgerTransaction, Transfer
from db.repositories import accounts as account_repo
from db.repositories import ledger as ledger_repo
from db.repositories.pages import Page
from graph.users.loaders import KeyedScopedLoader, ScopedLoader


class HoldersById(ScopedLoader[AccountHolder | None]):
    """Holders the caller may see, by id (None for unknown and hidden alike)."""

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[AccountHolder | None]:
        """One statement for the whole batch."""
        found = await self.uow.query(account_repo.holders_by_ids, self.viewer, ids)
        return [found.get(holder_id) for holder_id in ids]


class HoldersByUser(ScopedLoader[AccountHolder | None]):
    """Each user's holder profile, where the caller may see it."""

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[AccountHolder | None]:
        """One statement for the whole batch."""
        found = await self.uow.query(account_repo.holders_by_users, self.viewer, ids)
        return [found.get(user_id) for user_id in ids]


class AccountsById(ScopedLoader[Account | None]):
    """Accounts the caller may see, by id."""

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[Account | None]:
        """One statement for the whole batch."""
        found = await self.uow.query(account_repo.accounts_by_ids, self.viewer, ids)
        return [found.get(account_id) for account_id in ids]


class AccountsByHolder(ScopedLoader[list[Account]]):
    """Each holder's accounts the caller may see, oldest first."""

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[list[Account]]:
        """One statement for the whole batch."""
        found = await self.uow.query(account_repo.accounts_of_holders, self.viewer, ids)
        return [found.get(holder_id, []) for holder_id in ids]


class TransfersById(ScopedLoader[Transfer | None]):
    """Transfers touching an account the caller may see, by id."""

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[Transfer | None]:
        """One statement for the whole batch."""
        found = await self.uow.query(ledger_repo.transfers_by_ids, self.viewer, ids)
        return [found.get(transfer_id) for transfer_id in ids]


class CardsById(ScopedLoader[Card | None]):
    """Cards on accounts the caller may see, by id."""

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[Card | None]:
        """One statement for the whole batch."""
        found = await self.uow.query(ledger_repo.cards_by_ids, self.viewer, ids)
        return [found.get(card_id) for card_id in ids]


class CardsByAccount(ScopedLoader[list[Card]]):
    """Each account's cards, oldest first."""

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[list[Card]]:
        """One statement for the whole batch."""
        found = await self.uow.query(ledger_repo.cards_of_accounts, self.viewer, ids)
        return [found.get(account_id, []) for account_id in ids]


TransactionPageKey = tuple[uuid.UUID, ledger_repo.TransactionQuery, int | None]
"""(account id, filters without the account, `first`)."""


class TransactionFirstPages(KeyedScopedLoader[TransactionPageKey, Page[LedgerTransaction]]):
    """First pages of many accounts' transactions (`Account.transactions` in lists)."""

    async def batch_load_fn(
        self, keys: Sequence[TransactionPageKey]
    ) -> list[Page[LedgerTransaction]]:
        """One window-function statement per distinct (filter, first) in the batch."""
        groups: dict[tuple[ledger_repo.TransactionQuery, int | None], list[uuid.UUID]]
        groups = defaultdict(list)
        for account_id, query, first in keys:
            groups[query, first].append(account_id)
        pages: dict[TransactionPageKey, Page[LedgerTransaction]] = {}
        for (query, first), account_ids in groups.items():
            found = await self.uow.query(
                ledger_repo.first_transaction_pages, self.viewer, query, account_ids, first
            )
            pages.update(
                {(account_id, query, first): found[account_id] for account_id in account_ids}
            )
        return [pages[key] for key in keys]


TransactionCountKey = tuple[uuid.UUID, ledger_repo.TransactionQuery]


class TransactionCounts(KeyedScopedLoader[TransactionCountKey, int]):
    """Transaction counts of many accounts (`totalCount` in lists)."""

    async def batch_load_fn(self, keys: Sequence[TransactionCountKey]) -> list[int]:
        """One GROUP BY statement per distinct filter in the batch."""
        groups: dict[ledger_repo.TransactionQuery, list[uuid.UUID]] = defaultdict(list)
        for account_id, query in keys:
            groups[query].append(account_id)
        counts: dict[TransactionCountKey, int] = {}
        for query, account_ids in groups.items():
            found = await self.uow.query(
                ledger_repo.transaction_counts, self.viewer, query, account_ids
            )
            counts.update({(account_id, query): found[account_id] for account_id in account_ids})
        return [counts[key] for key in keys]
