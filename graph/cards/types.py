"""GraphQL types of the cards domain."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

import strawberry
from strawberry import relay

from db.errors import NotFound
from db.models import CardStatus, CardType
from db.records.cards import CardFields, CardRecord
from graph.accounts.loaders import AccountsById
from graph.accounts.types import AccountNode
from graph.cards.loaders import CardsById
from graph.common.info import Info
from graph.common.loaders import nodes_by_ids

CardTypeEnum = strawberry.enum(CardType, name="CardType", description="Kinds of card.")


CardStatusEnum = strawberry.enum(
    CardStatus, name="CardStatus", description="A card's state; CANCELLED is final."
)


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
    def from_model(cls, row: CardFields) -> CardNode:
        """The GraphQL view of a card: a record, or an ORM row just written."""
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

        def audit(row: CardRecord) -> None:
            info.context.audit_read("Card", str(row.id))

        return await nodes_by_ids(info, CardsById, node_ids, cls.from_model, audit=audit)
