"""Statements queries: an account's statement over whole UTC days."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from db.errors import NotFound
from db.repositories import ledger as ledger_repo
from db.repositories import statements as statement_repo
from db.services import statements as statement_service
from graph.accounts.loaders import AccountsById
from graph.accounts.types import AccountNode
from graph.common.ids import node_uuid
from graph.common.info import Info
from graph.common.money import money
from graph.permissions import IsAuthenticated
from graph.statements.types import Statement


@strawberry.type
class StatementQueries:
    """Statements fields of the query root."""

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
        start, end = statement_service.statement_period(from_, to)
        row = await info.context.loaders.get(AccountsById).load(account_key)
        if row is None:
            raise NotFound("No such account.", field=["accountId"])
        figures = await info.context.uow.query_core(
            statement_repo.period_figures, row.id, start, end
        )
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
