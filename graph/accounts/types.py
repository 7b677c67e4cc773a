"""GraphQL types of the accounts domain: holders, accounts and their connections."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay

from db.errors import NotFound
from db.models import AccountHolder, AccountStatus, AccountType
from db.records.accounts import AccountRecord, AccountView, HolderRecord, HolderView
from db.repositories import accounts as account_repo
from db.repositories.pages import Page, page_of, page_size
from graph.accounts.loaders import (
    AccountsByHolder,
    AccountsById,
    AccountsByUser,
    HoldersById,
    HoldersByUser,
)
from graph.common.connections import PageEdge, edges_of, page_info
from graph.common.info import Info
from graph.common.loaders import nodes_by_ids
from graph.common.money import Money, money
from graph.identity.loaders import UsersById
from graph.identity.types import UserNode

if TYPE_CHECKING:  # later domains, referenced lazily (they import this one)
    from graph.cards.types import CardNode
    from graph.ledger.inputs import TransactionFilter
    from graph.ledger.types import TransactionConnection

AccountTypeEnum = strawberry.enum(AccountType, name="AccountType", description="Kinds of account.")


AccountStatusEnum = strawberry.enum(
    AccountStatus, name="AccountStatus", description="ACTIVE accounts move money; others do not."
)


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
    def from_model(cls, row: HolderView) -> AccountHolderNode:
        """The GraphQL view of a holder record (or of a row a write returned)."""
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
        return await nodes_by_ids(info, HoldersById, node_ids, cls.from_model)


async def holder_of_user(info: Info, user_id: uuid.UUID) -> HolderRecord | None:
    """A user's holder through HoldersByUser, also primed into HoldersById (same visibility)."""
    holder = await info.context.loaders.get(HoldersByUser).load(user_id)
    if holder is not None:
        info.context.loaders.get(HoldersById).prime(holder.id, holder)  # `holder` costs nothing
    return holder


def first_accounts_page(rows: list[AccountRecord], first: int | None) -> AccountConnection:
    """The first page of an accounts connection, from all the rows a loader returned."""
    size = page_size(first)
    page = page_of(rows[: size + 1], account_repo.account_place, account_repo.ACCOUNT_ORDER, size)
    return AccountConnection.from_page(page, len(rows))


async def accounts_of_user(
    info: Info, user_id: uuid.UUID, first: int | None, after: str | None
) -> AccountConnection:
    """A user's accounts: a first page in one batched statement, later pages by keyset."""
    await info.context.require_principal()
    if after is None:
        return first_accounts_page(
            await info.context.loaders.get(AccountsByUser).load(user_id), first
        )
    holder = await holder_of_user(info, user_id)
    if holder is None:
        return AccountConnection.empty()
    return await accounts_of_holder(info, holder.id, first, after)


async def accounts_of_holder(
    info: Info, holder_id: uuid.UUID, first: int | None, after: str | None
) -> AccountConnection:
    """A holder's accounts connection: first pages batched, later pages by keyset."""
    principal = await info.context.require_principal()
    if after is None:
        return first_accounts_page(
            await info.context.loaders.get(AccountsByHolder).load(holder_id), first
        )
    page = await info.context.uow.query(
        account_repo.accounts_page, principal, holder_id, first, after
    )
    total = len(await info.context.loaders.get(AccountsByHolder).load(holder_id))
    return AccountConnection.from_page(page, total)


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
    def from_model(cls, row: AccountView) -> AccountNode:
        """The GraphQL view of an account record (or of a row a write returned)."""
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
        filter: Annotated[TransactionFilter, strawberry.lazy("graph.ledger.inputs")] | None = None,
    ) -> Annotated[TransactionConnection, strawberry.lazy("graph.ledger.types")]:
        """First pages batched over every account in the response; later pages by keyset."""
        from graph.ledger.inputs import TransactionFilter  # noqa: PLC0415 - later domain
        from graph.ledger.types import transactions_of  # noqa: PLC0415

        query = (filter or TransactionFilter()).to_query()
        return await transactions_of(info, uuid.UUID(self.id), query, first, after)

    @strawberry.field(description="Cards on this account, oldest first (never their numbers).")
    async def cards(
        self, info: Info
    ) -> list[Annotated[CardNode, strawberry.lazy("graph.cards.types")]]:
        """Batched through CardsByAccount; card details are a sensitive read."""
        from graph.cards.loaders import CardsByAccount  # noqa: PLC0415 - later domain
        from graph.cards.types import CardNode  # noqa: PLC0415

        rows = await info.context.loaders.get(CardsByAccount).load(uuid.UUID(self.id))
        if rows:
            info.context.audit_read_within("Card", "accounts", self.id)
        return [CardNode.from_model(row) for row in rows]

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[AccountNode | None]:
        """Your own accounts, or any with `accounts:read`; others are None."""
        return await nodes_by_ids(info, AccountsById, node_ids, cls.from_model)


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
    def from_page(cls, page: Page[Any], total: int) -> AccountConnection:
        """Build a connection from a page of account records or rows."""
        edges = edges_of(page, AccountEdge, AccountNode.from_model)
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
        edges = edges_of(page, AccountHolderEdge, AccountHolderNode.from_model)
        return cls(edges=edges, page_info=page_info(page))

    @strawberry.field(description="How many holders you may see, across all pages.")
    async def total_count(self, info: Info) -> int:
        """One COUNT statement, only when asked for."""
        principal = await info.context.require_principal()
        return await info.context.uow.query(account_repo.count_holders, principal)
