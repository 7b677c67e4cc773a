"""Cards reads: cards on accounts the caller may see."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Card
from db.repositories.accounts import visible_account_ids
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
    grouped: dict[uuid.UUID, list[Card]] = {account_id: [] for account_id in account_ids}
    for row in (await session.execute(statement)).scalars():
        grouped[row.account_id].append(row)
    return grouped
