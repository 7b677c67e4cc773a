"""Cards mutations: issuing a card (its number shown once), freezing, unfreezing, cancelling."""

from __future__ import annotations

import strawberry

from db.models import Card, CardStatus
from db.services import cards as card_service
from graph.cards.inputs import CardIdInput, IssueCardInput
from graph.cards.types import CardNode
from graph.common.ids import node_uuid
from graph.common.info import Info
from graph.common.payloads import UserError, attempt, in_transaction
from graph.permissions import IsAuthenticated


@strawberry.type
class CardPayload:
    """The changed card, or why nothing changed."""

    card: CardNode | None
    errors: list[UserError]


@strawberry.type
class IssueCardPayload:
    """The new card; its full number and security code appear here once and never again."""

    card: CardNode | None
    card_number: str | None = strawberry.field(
        description="The full card number: shown only in this response, never stored."
    )
    security_code: str | None = strawberry.field(
        description="The card's security code: shown only in this response, never stored."
    )
    errors: list[UserError]


async def _card_change(info: Info, value: strawberry.ID, target: CardStatus) -> CardPayload:
    principal = await info.context.require_principal()

    async def work() -> Card:
        card_id = node_uuid(value, "Card", ["input", "cardId"])
        return await in_transaction(
            info.context,
            lambda transaction: card_service.change_card_status(
                transaction, principal.user_id, card_id, target
            ),
        )

    card, errors = await attempt(info.context, work())  # the id is decoded before it opens
    return CardPayload(card=CardNode.from_model(card) if card else None, errors=errors)


@strawberry.type
class CardMutations:
    """Cards mutations of the mutation root."""

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Issue a card on your active account; the number is shown only in this reply.",
    )
    async def issue_card(self, info: Info, input: IssueCardInput) -> IssueCardPayload:
        """ACCOUNT_NOT_ACTIVE or CONFLICT (too many cards) come back in `errors`."""
        principal = await info.context.require_principal()
        key = info.context.settings.card_fingerprint_key()

        async def work() -> card_service.IssuedCard:
            account_id = node_uuid(input.account_id, "Account", ["input", "accountId"])
            return await in_transaction(
                info.context,
                lambda transaction: card_service.issue(
                    transaction, principal.user_id, account_id, input.type, key
                ),
            )

        issued, errors = await attempt(info.context, work())
        if issued is None:
            return IssueCardPayload(card=None, card_number=None, security_code=None, errors=errors)
        return IssueCardPayload(
            card=CardNode.from_model(issued.card), card_number=issued.number,
            security_code=issued.security_code, errors=[],
        )  # fmt: skip

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Block a card for now.")
    async def freeze_card(self, info: Info, input: CardIdInput) -> CardPayload:
        """CONFLICT unless the card is active."""
        return await _card_change(info, input.card_id, CardStatus.FROZEN)

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Unblock a frozen card.")
    async def unfreeze_card(self, info: Info, input: CardIdInput) -> CardPayload:
        """CONFLICT unless the card is frozen."""
        return await _card_change(info, input.card_id, CardStatus.ACTIVE)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="Cancel a card for good (final)."
    )
    async def cancel_card(self, info: Info, input: CardIdInput) -> CardPayload:
        """CONFLICT when already cancelled."""
        return await _card_change(info, input.card_id, CardStatus.CANCELLED)
