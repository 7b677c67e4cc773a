"""Dataloaders of the audit trail: batched, per operation, scoped to the caller."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from db.models import AuditLog
from db.repositories import audit as audit_repo
from graph.users.loaders import ScopedLoader


class AuditLogsById(ScopedLoader[AuditLog | None]):
    """Audit rows the caller may see, by id (None for unknown and hidden alike)."""

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[AuditLog | None]:
        """One statement for the whole batch, results in key order."""
        async with self.uow.read() as session:
            found = await audit_repo.visible_by_ids(session, self.viewer, ids)
        return [found.get(row_id) for row_id in ids]
