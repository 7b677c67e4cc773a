"""Cards queries: one card, never its number."""

from __future__ import annotations

import strawberry

from graph.cards.loaders import CardsById
from graph.cards.types import CardNode
from graph.common.info import Info
from graph.common.loaders import visible_row
from graph.permissions import IsAuthenticated


@strawberry.type
class CardQueries:
    """Cards fields of the query root."""

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="A card on an account you may see (never its number); NOT_FOUND otherwise.",
    )
    async def card(self, info: Info, id: strawberry.ID) -> CardNode | None:
        """Card details are a sensitive read and are audited."""
        row = await visible_row(info, CardsById, id, "Card")
        info.context.audit_read("Card", str(row.id))
        return CardNode.from_model(row)
