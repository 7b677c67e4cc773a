"""Cards: reads of cards on accounts the caller may see, and the rows a card change locks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Account, AccountHolder, Card, CardStatus
from db.records.cards import CardRecord
from db.repositories.rows import (
    Reader,
    first,
    grouped,
    live,
    record_columns,
    records,
    visible_account_ids,
)
from db.repositories.scope import Viewer

_CARDS = Card.__table__.c
_CARD_COLUMNS = record_columns(Card, CardRecord)


def _params(viewer: Viewer, **values: Any) -> dict[str, Any]:
    if not viewer.sees_all_accounts():
        values["viewer_id"] = viewer.user_id
    return values


@cache
def _visible_cards(sees_all: bool) -> Select[Any]:
    """Live cards on accounts the viewer may see (built once per visibility)."""
    return select(*_CARD_COLUMNS).where(
        _CARDS.account_id.in_(visible_account_ids(sees_all)), live(Card)
    )


@cache
def _by_ids(sees_all: bool) -> Select[Any]:
    return _visible_cards(sees_all).where(_CARDS.id.in_(bindparam("ids", expanding=True)))


@cache
def _of_accounts(sees_all: bool) -> Select[Any]:
    return (
        _visible_cards(sees_all)
        .where(_CARDS.account_id.in_(bindparam("account_ids", expanding=True)))
        .order_by(_CARDS.created_at, _CARDS.id)
    )


async def cards_by_ids(
    reader: Reader, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CardRecord]:
    """The cards among `ids` on accounts the viewer may see."""
    statement = _by_ids(viewer.sees_all_accounts())
    found = await records(reader, statement, _params(viewer, ids=list(ids)), CardRecord)
    return {row.id: row for row in found}


async def cards_of_accounts(
    reader: Reader, viewer: Viewer, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[CardRecord]]:
    """Each account's cards (oldest first), in one statement."""
    statement = _of_accounts(viewer.sees_all_accounts())
    params = _params(viewer, account_ids=list(account_ids))
    return grouped(
        (row.account_id, row) for row in await records(reader, statement, params, CardRecord)
    )


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
