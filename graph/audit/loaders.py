"""Dataloaders of the audit trail: batched, per operation, scoped to the caller."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from db.records.audit import AuditLogRecord
from db.repositories import audit as audit_repo
from db.repositories.pages import Page
from graph.common.loaders import GroupedLoader, RowLoader


class AuditLogsById(RowLoader[AuditLogRecord]):
    """Audit rows the caller may see, by id (None for unknown and hidden alike)."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, AuditLogRecord]:
        """One statement for the batch."""
        return await self.uow.query_core(audit_repo.visible_by_ids, self.viewer, ids)


PageOptions = tuple[audit_repo.AuditQuery, int | None]
"""(filters without the user, `first`)."""


class AuditFirstPagesByUser(GroupedLoader[PageOptions, Page[AuditLogRecord]]):
    """First pages of many users' audit rows (`User.auditLogs` in lists)."""

    async def fetch(
        self, options: PageOptions, owner_ids: list[uuid.UUID]
    ) -> Mapping[uuid.UUID, Page[AuditLogRecord]]:
        """One window-function statement for every user in the group."""
        query, first = options
        return await self.uow.query_core(
            audit_repo.first_pages_by_user, self.viewer, query, owner_ids, first
        )


class AuditCountsByUser(GroupedLoader[audit_repo.AuditQuery, int]):
    """Row counts of many users' audit lists (`totalCount` in lists)."""

    async def fetch(
        self, options: audit_repo.AuditQuery, owner_ids: list[uuid.UUID]
    ) -> Mapping[uuid.UUID, int]:
        """One GROUP BY statement for every user in the group."""
        return await self.uow.query_core(audit_repo.counts_by_user, self.viewer, options, owner_ids)
