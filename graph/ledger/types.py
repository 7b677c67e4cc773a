"""GraphQL types of the ledger domain: transactions, transfers and their connections."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

import strawberry
from strawberry import relay

from db.errors import NotFound
from db.models import TransactionType
from db.records.ledger import TransactionFields, TransactionRecord, TransferFields
from db.repositories import ledger as ledger_repo
from db.repositories.pages import Page
from graph.accounts.loaders import AccountsById
from graph.accounts.types import AccountNode
from graph.common.connections import PageEdge, edges_of, page_info
from graph.common.info import Info
from graph.common.loaders import nodes_by_ids
from graph.common.money import Money, money
from graph.ledger.loaders import TransactionCounts, TransactionFirstPages, TransfersById

TransactionTypeEnum = strawberry.enum(
    TransactionType, name="TransactionType", description="Kinds of ledger entry."
)


async def transactions_of(
    info: Info,
    account_id: uuid.UUID,
    query: ledger_repo.TransactionQuery,
    first: int | None,
    after: str | None,
) -> TransactionConnection:
    """One account's transactions connection; first pages are batched across accounts."""
    principal = await info.context.require_principal()
    if after is None:
        page = await info.context.loaders.get(TransactionFirstPages).load(
            (account_id, (query, first))
        )
    else:
        page = await info.context.uow.query_core(
            ledger_repo.transactions_page, principal, replace(query, account_id=account_id),
            first, after,
        )  # fmt: skip
    return TransactionConnection.from_page(page, account_id, query)


@strawberry.type(name="Transaction", description="One posted ledger entry; never changed.")
class TransactionNode(relay.Node):
    """A ledger transaction as the caller may see it."""

    id: relay.NodeID[str]
    type: TransactionTypeEnum  # type: ignore[valid-type]
    amount: Money
    balance_after: Money
    description: str
    created_at: datetime
    account_id: strawberry.Private[uuid.UUID]
    transfer_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, row: TransactionFields) -> TransactionNode:
        """The GraphQL view of a ledger line: a record, or an ORM row just written."""
        return cls(
            id=str(row.id), type=TransactionType(row.type),
            amount=money(row.amount, row.currency),
            balance_after=money(row.balance_after, row.currency), description=row.description,
            created_at=row.created_at, account_id=row.account_id, transfer_id=row.transfer_id,
        )  # fmt: skip

    @strawberry.field(description="The account this entry was posted to.")
    async def account(self, info: Info) -> AccountNode:
        """Batched through AccountsById."""
        row = await info.context.loaders.get(AccountsById).load(self.account_id)
        if row is None:  # pragma: no cover - entries are only shown with their account
            raise NotFound
        return AccountNode.from_model(row)

    @strawberry.field(description="The transfer this entry is a leg of, if any.")
    async def transfer(self, info: Info) -> TransferNode | None:
        """Batched through TransfersById."""
        if self.transfer_id is None:
            return None
        row = await info.context.loaders.get(TransfersById).load(self.transfer_id)
        return TransferNode.from_model(row) if row is not None else None

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[TransactionNode | None]:
        """Transactions are reached through their account."""
        return [None for _ in node_ids]


@strawberry.type(name="Transfer", description="Money moved between two accounts.")
class TransferNode(relay.Node):
    """A transfer as the caller may see it."""

    id: relay.NodeID[str]
    amount: Money
    description: str
    created_at: datetime
    from_account_id: strawberry.Private[uuid.UUID]
    to_account_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, row: TransferFields) -> TransferNode:
        """The GraphQL view of a transfer: a record, or an ORM row just written."""
        return cls(
            id=str(row.id), amount=money(row.amount, row.currency), description=row.description,
            created_at=row.created_at, from_account_id=row.from_account_id,
            to_account_id=row.to_account_id,
        )  # fmt: skip

    @strawberry.field(description="Where the money came from (null if hidden from you).")
    async def from_account(self, info: Info) -> AccountNode | None:
        """Batched through AccountsById."""
        row = await info.context.loaders.get(AccountsById).load(self.from_account_id)
        return AccountNode.from_model(row) if row is not None else None

    @strawberry.field(description="Where the money went (null if hidden from you).")
    async def to_account(self, info: Info) -> AccountNode | None:
        """Batched through AccountsById."""
        row = await info.context.loaders.get(AccountsById).load(self.to_account_id)
        return AccountNode.from_model(row) if row is not None else None

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[TransferNode | None]:
        """Transfers touching an account you may see; others are None."""
        return await nodes_by_ids(info, TransfersById, node_ids, cls.from_model)


@strawberry.type(description="An edge of a transactions connection.")
class TransactionEdge(PageEdge):
    """One transaction and its cursor."""

    node: TransactionNode


@strawberry.type(description="A page of transactions, newest first.")
class TransactionConnection:
    """Transactions of one account, keyset-paginated."""

    edges: list[TransactionEdge]
    page_info: relay.PageInfo
    account_id: strawberry.Private[uuid.UUID]
    query: strawberry.Private[ledger_repo.TransactionQuery]

    @classmethod
    def from_page(
        cls,
        page: Page[TransactionRecord],
        account_id: uuid.UUID,
        query: ledger_repo.TransactionQuery,
    ) -> TransactionConnection:
        """Build a connection from a page of ledger records."""
        edges = edges_of(page, TransactionEdge, TransactionNode.from_model)
        return cls(edges=edges, page_info=page_info(page), account_id=account_id, query=query)

    @strawberry.field(description="How many transactions match, across all pages.")
    async def total_count(self, info: Info) -> int:
        """Batched over every account in the response (one GROUP BY)."""
        key = (self.account_id, replace(self.query, account_id=None))
        return await info.context.loaders.get(TransactionCounts).load(key)
