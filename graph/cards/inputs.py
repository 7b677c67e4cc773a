"""GraphQL inputs of the cards domain."""

from __future__ import annotations

import strawberry

from graph.cards.types import CardTypeEnum


@strawberry.input
class IssueCardInput:
    """The account for the new card and its type."""

    account_id: strawberry.ID
    type: CardTypeEnum  # type: ignore[valid-type]


@strawberry.input
class CardIdInput:
    """The card to act on."""

    card_id: strawberry.ID
