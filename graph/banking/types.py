"""GraphQL types of the banking domain: holders, accounts, transactions, transfers, cards."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import strawberry
from strawberry import relay

from db.errors import NotFound
from db.models import (
    Account,
    AccountHolder,
    AccountStatus,
    AccountType,
    Card,
    CardStatus,
    CardType,
    LedgerTransaction,
    TransactionType,
    Transfer,
)
from db.money import format_amount
from db.repositories import accounts as account_repo
from db.repositories import ledger as ledger_repo
from db.repositories.pages import Page, page_of, page_size
from graph.banking.loaders import (
    AccountsByHolder,
    AccountsById,
    CardsByAccount,
    CardsById,
    HoldersById,
    TransactionCounts,
    TransactionFirstPages,
    TransfersById,
)
from graph.context import Context
from graph.relay import PageEdge, page_info, parse_global_id
from graph.scalars import Long
from graph.users.loaders import UsersById
from graph.users.types import UserNode, parse_uuid

Info = strawberry.Info[Context, None]

AccountTypeEnum = strawberry.enum(AccountType, name="AccountType", description="Kinds of account.")
AccountStatusEnum = strawberry.enum(
    AccountStatus, name="AccountStatus", description="ACTIVE accounts move money; others do not."
)
TransactionTypeEnum = strawberry.enum(
    TransactionType, name="TransactionType", description="Kinds of ledger entry."
)
CardTypeEnum = strawberry.enum(CardType, name="CardType", description="Kinds of card.")
CardStatusEnum = strawberry.enum(
    CardStatus, name="CardStatus", description="A card's state; CANCELLED is final."
)


def not_found(type_name: str, field: list[str]) -> NotFound:
    """NOT_FOUND for an object of `type_name` ("AccountHolder" reads "No such account holder.")."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", type_name).lower()
    return NotFound(f"No such {words}.", field=field)


def node_uuid(value: strawberry.ID, type_name: str, field: list[str]) -> uuid.UUID:
    """The row id inside a global id of `type_name`; NOT_FOUND for any other id."""
    global_id = parse_global_id(value, field[-1])
    row_id = parse_uuid(global_id.node_id) if global_id.type_name == type_name else None
    if row_id is None:
        raise not_found(type_name, field)
    return row_id


@strawberry.type(description="An amount of money in one currency.")
class Money:
    """Integer minor units with the currency they are counted in."""

    amount: Long = strawberry.field(description="In minor units (cents; yen; fils).")
    currency: str = strawberry.field(description="ISO 4217 code.")

    @strawberry.field(description='Major units with the currency\'s exponent: "12.34".')
    def formatted(self) -> str:
        """The amount written with its currency's decimal places."""
        return format_amount(self.amount, self.currency)


def money(amount: int, currency: str) -> Money:
    """A Money value."""
    return Money(amount=Long(amount), currency=currency)


@strawberry.type(name="AccountHolder", description="The person behind accounts.")
class AccountHolderNode(relay.Node):
    """A holder profile as the caller may see it."""

    id: relay.NodeID[str]
    first_name: str
    last_name: str
    date_of_birth: date
    created_at: datetime
    user_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, row: AccountHolder) -> AccountHolderNode:
        """The GraphQL view of a holder row."""
        return cls(
            id=str(row.id), first_name=row.first_name, last_name=row.last_name,
            date_of_birth=row.date_of_birth, created_at=row.created_at, user_id=row.user_id,
        )  # fmt: skip

    @strawberry.field(description="The signed-in user behind this holder, when visible to you.")
    async def user(self, info: Info) -> UserNode | None:
        """Batched through UsersById."""
        row = await info.context.loaders.get(UsersById).load(self.user_id)
        return UserNode.from_model(row) if row is not None else None

    @strawberry.field(description="The holder's accounts you may see, oldest first.")
    async def accounts(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> AccountConnection:
        """From the batched AccountsByHolder loader; later pages by keyset."""
        return await accounts_of_holder(info, uuid.UUID(self.id), first, after)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[AccountHolderNode | None]:
        """Your own holder, or any with `holders:read`; others are None."""
        await info.context.principal()
        rows = await load_by_ids(info, HoldersById, node_ids)
        return [cls.from_model(row) if row is not None else None for row in rows]


async def load_by_ids(info: Info, loader: type[Any], node_ids: Iterable[str]) -> list[Any]:
    """Rows for node ids through a caller-scoped loader; None for malformed, hidden or unknown."""
    ids = [parse_uuid(node_id) for node_id in node_ids]
    rows = await info.context.loaders.get(loader).load_many([i for i in ids if i is not None])
    found = {row.id: row for row in rows if row is not None}
    return [found.get(row_id) if row_id is not None else None for row_id in ids]


async def accounts_of_holder(
    info: Info, holder_id: uuid.UUID, first: int | None, after: str | None
) -> AccountConnection:
    """A holder's accounts connection: first pages batched, later pages by keyset."""
    principal = await info.context.require_principal()
    if after is None:
        rows = await info.context.loaders.get(AccountsByHolder).load(holder_id)
        size = page_size(first)
        page = page_of(
            rows[: size + 1], account_repo.account_place, account_repo.ACCOUNT_ORDER, size
        )
        return AccountConnection.from_page(page, len(rows))
    page = await info.context.uow.query(
        account_repo.accounts_page, principal, holder_id, first, after
    )
    total = len(await info.context.loaders.get(AccountsByHolder).load(holder_id))
    return AccountConnection.from_page(page, total)


@strawberry.input(description="Filters of an account's transactions; all optional.")
class TransactionFilter:
    """What to include in `Account.transactions`."""

    type: TransactionTypeEnum | None = None  # type: ignore[valid-type]
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Created at or after."
    )
    to: datetime | None = strawberry.field(default=None, description="Created before.")

    def to_query(self) -> ledger_repo.TransactionQuery:
        """The repository query for this filter."""
        kind = self.type.value if self.type is not None else None
        return ledger_repo.TransactionQuery(type=kind, since=self.from_, until=self.to)


@strawberry.type(name="Account", description="Money in one currency.")
class AccountNode(relay.Node):
    """An account as the caller may see it."""

    id: relay.NodeID[str]
    type: AccountTypeEnum  # type: ignore[valid-type]
    currency: str
    balance: Money
    status: AccountStatusEnum  # type: ignore[valid-type]
    created_at: datetime
    holder_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, row: Account) -> AccountNode:
        """The GraphQL view of an account row."""
        return cls(
            id=str(row.id), type=AccountType(row.type), currency=row.currency,
            balance=money(row.balance, row.currency), status=AccountStatus(row.status),
            created_at=row.created_at, holder_id=row.holder_id,
        )  # fmt: skip

    @strawberry.field(description="Whose account this is.")
    async def holder(self, info: Info) -> AccountHolderNode:
        """Batched through HoldersById; anyone who sees an account sees its holder."""
        row = await info.context.loaders.get(HoldersById).load(self.holder_id)
        if row is None:  # pragma: no cover - account visibility implies holder visibility
            raise NotFound
        return AccountHolderNode.from_model(row)

    @strawberry.field(description="Posted transactions, newest first.")
    async def transactions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: TransactionFilter | None = None,
    ) -> TransactionConnection:
        """First pages batched over every account in the response; later pages by keyset."""
        query = (filter or TransactionFilter()).to_query()
        return await transactions_of(info, uuid.UUID(self.id), query, first, after)

    @strawberry.field(description="Cards on this account, oldest first (never their numbers).")
    async def cards(self, info: Info) -> list[CardNode]:
        """Batched through CardsByAccount; card details are a sensitive read."""
        rows = await info.context.loaders.get(CardsByAccount).load(uuid.UUID(self.id))
        if rows:
            info.context.audit_read_within("Card", "accounts", self.id)
        return [CardNode.from_model(row) for row in rows]

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[AccountNode | None]:
        """Your own accounts, or any with `accounts:read`; others are None."""
        await info.context.principal()
        rows = await load_by_ids(info, AccountsById, node_ids)
        return [cls.from_model(row) if row is not None else None for row in rows]


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
            (account_id, query, first)
        )
    else:
        page = await info.context.uow.query(
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
    def from_model(cls, row: LedgerTransaction) -> TransactionNode:
        """The GraphQL view of a ledger row."""
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
    def from_model(cls, row: Transfer) -> TransferNode:
        """The GraphQL view of a transfer row."""
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
        await info.context.principal()
        rows = await load_by_ids(info, TransfersById, node_ids)
        return [cls.from_model(row) if row is not None else None for row in rows]


@strawberry.type(name="Card", description="A card on an account; its number is never shown again.")
class CardNode(relay.Node):
    """A card as the caller may see it."""

    id: relay.NodeID[str]
    type: CardTypeEnum  # type: ignore[valid-type]
    last4: str
    expiry_month: int
    expiry_year: int
    status: CardStatusEnum  # type: ignore[valid-type]
    created_at: datetime
    account_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, row: Card) -> CardNode:
        """The GraphQL view of a card row."""
        return cls(
            id=str(row.id), type=CardType(row.type), last4=row.last4,
            expiry_month=row.expiry_month, expiry_year=row.expiry_year,
            status=CardStatus(row.status), created_at=row.created_at, account_id=row.account_id,
        )  # fmt: skip

    @strawberry.field(description="The account the card draws on.")
    async def account(self, info: Info) -> AccountNode:
        """Batched through AccountsById."""
        row = await info.context.loaders.get(AccountsById).load(self.account_id)
        if row is None:  # pragma: no cover - cards are only shown with their account
            raise NotFound
        return AccountNode.from_model(row)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[CardNode | None]:
        """Cards on accounts you may see; others are None. A sensitive read."""
        await info.context.principal()
        rows = await load_by_ids(info, CardsById, node_ids)
        for row in rows:
            if row is not None:
                info.context.audit_read("Card", str(row.id))
        return [cls.from_model(row) if row is not None else None for row in rows]


@strawberry.type(description="An edge of an accounts connection.")
class AccountEdge(PageEdge):
    """One account and its cursor."""

    node: AccountNode


@strawberry.type(description="A page of accounts.")
class AccountConnection:
    """Accounts, oldest first."""

    edges: list[AccountEdge]
    page_info: relay.PageInfo
    total_count: int = strawberry.field(description="How many accounts, across all pages.")

    @classmethod
    def from_page(cls, page: Page[Account], total: int) -> AccountConnection:
        """Build a connection from a page of account rows."""
        edges = [
            AccountEdge(page=page, index=i, node=AccountNode.from_model(row))
            for i, row in enumerate(page.rows)
        ]
        return cls(edges=edges, page_info=page_info(page), total_count=total)

    @classmethod
    def empty(cls) -> AccountConnection:
        """No accounts (e.g. a user without a holder profile)."""
        return cls.from_page(Page(rows=[], has_next=False, has_previous=False), 0)


@strawberry.type(description="An edge of an account holders connection.")
class AccountHolderEdge(PageEdge):
    """One holder and its cursor."""

    node: AccountHolderNode


@strawberry.type(description="A page of account holders.")
class AccountHolderConnection:
    """Holders, oldest first."""

    edges: list[AccountHolderEdge]
    page_info: relay.PageInfo

    @classmethod
    def from_page(cls, page: Page[AccountHolder]) -> AccountHolderConnection:
        """Build a connection from a page of holder rows."""
        edges = [
            AccountHolderEdge(page=page, index=i, node=AccountHolderNode.from_model(row))
            for i, row in enumerate(page.rows)
        ]
        return cls(edges=edges, page_info=page_info(page))

    @strawberry.field(description="How many holders you may see, across all pages.")
    async def total_count(self, info: Info) -> int:
        """One COUNT statement, only when asked for."""
        principal = await info.context.require_principal()
        return await info.context.uow.query(account_repo.count_holders, principal)


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
        page: Page[LedgerTransaction],
        account_id: uuid.UUID,
        query: ledger_repo.TransactionQuery,
    ) -> TransactionConnection:
        """Build a connection from a page of ledger rows."""
        edges = [
            TransactionEdge(page=page, index=i, node=TransactionNode.from_model(row))
            for i, row in enumerate(page.rows)
        ]
        return cls(edges=edges, page_info=page_info(page), account_id=account_id, query=query)

    @strawberry.field(description="How many transactions match, across all pages.")
    async def total_count(self, info: Info) -> int:
        """Batched over every account in the response (one GROUP BY)."""
        key = (self.account_id, replace(self.query, account_id=None))
        return await info.context.loaders.get(TransactionCounts).load(key)


@strawberry.type(description="An account's movements over whole UTC days, both ends included.")
class Statement:
    """Opening and closing balance, totals, and the period's transactions."""

    account: AccountNode
    from_: date = strawberry.field(name="from")
    to: date
    opening_balance: Money
    closing_balance: Money
    total_credits: Money
    total_debits: Money
    period: strawberry.Private[ledger_repo.TransactionQuery]

    @strawberry.field(description="The period's transactions, newest first.")
    async def transactions(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> TransactionConnection:
        """The account's transactions restricted to the period."""
        return await transactions_of(info, uuid.UUID(self.account.id), self.period, first, after)
