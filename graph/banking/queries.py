"""Banking queries: holders, accounts, cards, transfers and statements."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import strawberry

from db.errors import NotFound
from db.repositories import accounts as account_repo
from db.repositories import ledger as ledger_repo
from graph.banking.loaders import AccountsById, CardsById, HoldersById, TransfersById
from graph.banking.types import (
    AccountHolderConnection,
    AccountHolderNode,
    AccountNode,
    CardNode,
    Info,
    Statement,
    TransferNode,
    money,
    node_uuid,
    not_found,
)
from graph.permissions import HasPermission, IsAuthenticated


async def _visible(info: Info, loader: type[Any], value: strawberry.ID, type_name: str) -> Any:
    """The row behind a global id of `type_name` if the caller may see it; else NOT_FOUND."""
    row = await info.context.loaders.get(loader).load(node_uuid(value, type_name, ["id"]))
    if row is None:
        raise not_found(type_name, ["id"])
    return row


@strawberry.type
class BankingQueries:
    """Banking fields of the query root."""

    @strawberry.field(
        permission_classes=[HasPermission("holders:read")],
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
        return AccountHolderNode.from_model(await _visible(info, HoldersById, id, "AccountHolder"))

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="An account: your own, or any with `accounts:read`; NOT_FOUND otherwise.",
    )
    async def account(self, info: Info, id: strawberry.ID) -> AccountNode | None:
        """Hidden and unknown accounts are both NOT_FOUND."""
        return AccountNode.from_model(await _visible(info, AccountsById, id, "Account"))

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="A card on an account you may see (never its number); NOT_FOUND otherwise.",
    )
    async def card(self, info: Info, id: strawberry.ID) -> CardNode | None:
        """Card details are a sensitive read and are audited."""
        row = await _visible(info, CardsById, id, "Card")
        info.context.audit_read("Card", str(row.id))
        return CardNode.from_model(row)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="A transfer touching an account you may see; NOT_FOUND otherwise.",
    )
    async def transfer(self, info: Info, id: strawberry.ID) -> TransferNode | None:
        """Hidden and unknown transfers are both NOT_FOUND."""
        return TransferNode.from_model(await _visible(info, TransfersById, id, "Transfer"))

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description=(
            "An account's statement over whole UTC days, both ends included: opening balance "
            "+ credits - debits = closing balance. Audited as a sensitive read."
        ),
    )
    async def statement(
        self,
        info: Info,
        account_id: strawberry.ID,
        from_: Annotated[date, strawberry.argument(name="from", description="First day (UTC).")],
        to: Annotated[date, strawberry.argument(description="Last day (UTC), included.")],
    ) -> Statement:
        """Three figures in one statement; transactions only when asked for."""
        account_key = node_uuid(account_id, "Account", ["accountId"])
        start, end = ledger_repo.statement_period(from_, to)
        row = await info.context.loaders.get(AccountsById).load(account_key)
        if row is None:
            raise NotFound("No such account.", field=["accountId"])
        figures = await info.context.uow.query(ledger_repo.period_figures, row.id, start, end)
        info.context.audit_read(
            "Statement", str(row.id), start=from_.isoformat(), end=to.isoformat()
        )
        period = ledger_repo.TransactionQuery(since=start, until=end)
        return Statement(
            account=AccountNode.from_model(row), from_=from_, to=to,
            opening_balance=money(figures.opening, row.currency),
            closing_balance=money(figures.closing, row.currency),
            total_credits=money(figures.credits, row.currency),
            total_debits=money(figures.debits, row.currency), period=period,
        )  # fmt: skip
