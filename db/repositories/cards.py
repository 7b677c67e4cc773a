"""Cards: reads of cards on accounts the caller may see, and the rows a card change locks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Account, AccountHolder, Card, CardStatus
from db.repositories.accounts import visible_account_ids
from db.repositories.rows import every, first, grouped
from db.repositories.scope import Viewer


async def cards_by_ids(
    session: AsyncSession, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Card]:
    """The cards among `ids` on accounts the viewer may see."""
    statement = select(Card).where(
        Card.id.in_(ids), Card.account_id.in_(visible_account_ids(viewer))
    )
    return {row.id: row for row in (await session.execute(statement)).scalars()}


async def cards_of_accounts(
    session: AsyncSession, viewer: Viewer, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Card]]:
    """Each account's cards (oldest first), in one statement."""
    statement = (
        select(Card)
        .where(Card.account_id.in_(account_ids), Card.account_id.in_(visible_account_ids(viewer)))
        .order_by(Card.created_at, Card.id)
    )
    return grouped((row.account_id, row) for row in await every(session, statement))


async def live_card_count(session: AsyncSession, account_id: uuid.UUID) -> int:
    """How many cards of an account are not cancelled."""
    statement = (
        select(func.count())
        .select_from(Card)
        .where(Card.account_id == account_id, Card.status != CardStatus.CANCELLED.value)
    )
    return int(await session.scalar(statement) or 0)


async def owned_card_for_update(
    session: AsyncSession, owner_id: uuid.UUID, card_id: uuid.UUID
) -> Card | None:
    """One of the caller's own cards, row-locked; None if it is not theirs or does not exist."""
    statement = (
        select(Card)
        .join(Account, Account.id == Card.account_id)
        .join(AccountHolder, AccountHolder.id == Account.holder_id)
        .where(Card.id == card_id, AccountHolder.user_id == owner_id)
    )
    return await first(session, statement, for_update=True, of=Card)
