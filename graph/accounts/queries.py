"""Accounts queries: holders and accounts, your own or any with the staff permission."""

from __future__ import annotations

import strawberry

from auth.permissions import Permission
from db.repositories import accounts as account_repo
from graph.accounts.loaders import AccountsById, HoldersById
from graph.accounts.types import AccountHolderConnection, AccountHolderNode, AccountNode
from graph.common.info import Info
from graph.common.loaders import visible_row
from graph.permissions import HasPermission, IsAuthenticated


@strawberry.type
class AccountQueries:
    """Accounts fields of the query root."""

    @strawberry.field(
        permission_classes=[HasPermission(Permission.HOLDERS_READ)],
        description="Every account holder, oldest first (staff).",
    )
    async def account_holders(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> AccountHolderConnection:
        """One statement for the page."""
        principal = await info.context.require_principal()
        page = await info.context.uow.query(account_repo.holders_page, principal, first, after)
        info.context.audit_read("AccountHolder", None, rows=len(page.rows))
        return AccountHolderConnection.from_page(page)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="A holder: your own, or any with `holders:read`; NOT_FOUND otherwise.",
    )
    async def account_holder(self, info: Info, id: strawberry.ID) -> AccountHolderNode | None:
        """Hidden and unknown holders are both NOT_FOUND."""
        return AccountHolderNode.from_model(
            await visible_row(info, HoldersById, id, "AccountHolder")
        )

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="An account: your own, or any with `accounts:read`; NOT_FOUND otherwise.",
    )
    async def account(self, info: Info, id: strawberry.ID) -> AccountNode | None:
        """Hidden and unknown accounts are both NOT_FOUND."""
        return AccountNode.from_model(await visible_row(info, AccountsById, id, "Account"))
