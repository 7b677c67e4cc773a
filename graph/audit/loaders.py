"""Dataloaders of the audit trail: batched, per operation, scoped to the caller."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from db.models import AuditLog
from db.repositories import audit as audit_repo
from db.repositories.pages import Page
from graph.users.loaders import KeyedScopedLoader, ScopedLoader


class AuditLogsById(ScopedLoader[AuditLog | None]):
    """Audit rows the caller may see, by id (None for unknown and hidden alike)."""

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[AuditLog | None]:
        """One statement for the whole batch, results in key order."""
        found = await self.uow.query(audit_repo.visible_by_ids, self.viewer, ids)
        return [found.get(row_id) for row_id in ids]


PageKey = tuple[uuid.UUID, audit_repo.AuditQuery, int | None]
"""(user id, filters without the user, `first`)."""


class AuditFirstPagesByUser(KeyedScopedLoader[PageKey, Page[AuditLog]]):
    """First pages of many users' audit rows (`User.auditLogs` in lists)."""

    async def batch_load_fn(self, keys: Sequence[PageKey]) -> list[Page[AuditLog]]:
        """One window-function statement per distinct (filter, first) in the batch."""
        groups: dict[tuple[audit_repo.AuditQuery, int | None], list[uuid.UUID]] = defaultdict(list)
        for user_id, query, first in keys:
            groups[query, first].append(user_id)
        pages: dict[PageKey, Page[AuditLog]] = {}
        for (query, first), user_ids in groups.items():
            found = await self.uow.query(
                audit_repo.first_pages_by_user, self.viewer, query, user_ids, first
            )
            pages.update({(user_id, query, first): found[user_id] for user_id in user_ids})
        return [pages[key] for key in keys]


CountKey = tuple[uuid.UUID, audit_repo.AuditQuery]


class AuditCountsByUser(KeyedScopedLoader[CountKey, int]):
    """Row counts of many users' audit lists (`totalCount` in lists)."""

    async def batch_load_fn(self, keys: Sequence[CountKey]) -> list[int]:
        """One GROUP BY statement per distinct filter in the batch."""
        groups: dict[audit_repo.AuditQuery, list[uuid.UUID]] = defaultdict(list)
        for user_id, query in keys:
            groups[query].append(user_id)
        counts: dict[CountKey, int] = {}
        for query, user_ids in groups.items():
            found = await self.uow.query(audit_repo.counts_by_user, self.viewer, query, user_ids)
            counts.update({(user_id, query): found[user_id] for user_id in user_ids})
        return [counts[key] for key in keys]
