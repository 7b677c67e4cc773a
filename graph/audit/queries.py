"""Audit queries: the log itself and the chain check (both need `audit:read`)."""

from __future__ import annotations

import strawberry

from auth.permissions import Permission
from db.audit import chain
from db.repositories import audit as audit_repo
from graph.audit.types import AuditChainStatus, AuditLogConnection, AuditLogFilter, audit_query
from graph.common.info import Info
from graph.permissions import HasPermission


@strawberry.type
class AuditQueries:
    """Audit fields of the query root."""

    @strawberry.field(
        permission_classes=[HasPermission(Permission.AUDIT_READ)],
        description="Every audit row, newest first, filtered; reading it is itself audited.",
    )
    async def audit_logs(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: AuditLogFilter | None = None,
    ) -> AuditLogConnection:
        """One statement for the page (plus one for totalCount when asked)."""
        principal = await info.context.require_principal()
        query = audit_query(filter)
        page = await info.context.uow.query_core(
            audit_repo.list_page, principal, query, first, after
        )
        info.context.audit_read("AuditLog", None, rows=len(page.rows))
        return AuditLogConnection.from_page(page, query)

    @strawberry.field(
        permission_classes=[HasPermission(Permission.AUDIT_READ)],
        description="Recompute the hash chain and report the first row that does not fit.",
    )
    async def audit_chain(self, info: Info) -> AuditChainStatus:
        """Walks every row in sequence order within one snapshot."""
        status = await info.context.uow.query(chain.verify, info.context.database.audit_keys)
        info.context.audit_read("AuditChain", None, valid=status.valid)
        return AuditChainStatus.from_status(status)
