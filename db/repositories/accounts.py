"""Account holders and accounts: every read scoped to what the viewer may see."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Account, AccountHolder
from db.repositories.pages import Page, keyset_page
from db.repositories.rows import every, grouped, one_by
from db.repositories.scope import Viewer


def _visible_holders(statement: Select[Any], viewer: Viewer) -> Select[Any]:
    # Whoever may read any account may also read whose it is.
    if viewer.sees_all_holders() or viewer.sees_all_accounts():
        return statement
    return statement.where(AccountHolder.user_id == viewer.user_id)


def _visible_accounts(statement: Select[Any], viewer: Viewer) -> Select[Any]:
    if viewer.sees_all_accounts():
        return statement
    return statement.join(AccountHolder, AccountHolder.id == Account.holder_id).where(
        AccountHolder.user_id == viewer.user_id
    )


async def holders_by_ids(
    session: AsyncSession, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AccountHolder]:
    """The holders among `ids` the viewer may see."""
    statement = _visible_holders(select(AccountHolder).where(AccountHolder.id.in_(ids)), viewer)
    return {row.id: row for row in (await session.execute(statement)).scalars()}


async def holders_by_users(
    session: AsyncSession, viewer: Viewer, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AccountHolder]:
    """Each user's holder profile, where the viewer may see it."""
    query = select(AccountHolder).where(AccountHolder.user_id.in_(user_ids))
    statement = _visible_holders(query, viewer)
    return {row.user_id: row for row in (await session.execute(statement)).scalars()}


async def holders_page(
    session: AsyncSession, viewer: Viewer, first: int | None, after: str | None
) -> Page[AccountHolder]:
    """Holders the viewer may see, oldest first."""
    statement = _visible_holders(select(AccountHolder), viewer).order_by(
        AccountHolder.created_at, AccountHolder.id
    )
    return await keyset_page(session, statement, first, after, ordering="created_at:asc")


async def accounts_by_ids(
    session: AsyncSession, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Account]:
    """The accounts among `ids` the viewer may see."""
    statement = _visible_accounts(select(Account).where(Account.id.in_(ids)), viewer)
    return {row.id: row for row in (await session.execute(statement)).scalars()}


async def accounts_of_holders(
    session: AsyncSession, viewer: Viewer, holder_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Account]]:
    """Each holder's accounts (oldest first) that the viewer may see, in one statement."""
    query = select(Account).where(Account.holder_id.in_(holder_ids))
    statement = _visible_accounts(query, viewer).order_by(Account.created_at, Account.id)
    return grouped((row.holder_id, row) for row in await every(session, statement))


async def holder_of_user(
    session: AsyncSession, user_id: uuid.UUID, *, for_update: bool = False
) -> AccountHolder | None:
    """A user's live holder profile."""
    return await one_by(
        session, AccountHolder, AccountHolder.user_id == user_id, for_update=for_update
    )


async def owned_accounts_for_update(
    session: AsyncSession, owner_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Account]:
    """The caller's own accounts among `ids`, row-locked in id order (no deadlocks)."""
    statement = (
        select(Account)
        .join(AccountHolder, AccountHolder.id == Account.holder_id)
        .where(Account.id.in_(sorted(set(ids))), AccountHolder.user_id == owner_id)
        .order_by(Account.id)
    )
    found = await every(session, statement, for_update=True, of=Account)
    return {row.id: row for row in found}


ACCOUNT_ORDER = "created_at:asc"


def account_place(row: Account) -> tuple[Any, ...]:
    """An account's position in ACCOUNT_ORDER (for pages built from loader results)."""
    return (row.created_at, row.id)


async def accounts_page(
    session: AsyncSession,
    viewer: Viewer,
    holder_id: uuid.UUID,
    first: int | None,
    after: str | None,
) -> Page[Account]:
    """One holder's accounts the viewer may see, oldest first."""
    query = select(Account).where(Account.holder_id == holder_id)
    statement = _visible_accounts(query, viewer).order_by(Account.created_at, Account.id)
    return await keyset_page(session, statement, first, after, ordering=ACCOUNT_ORDER)


async def count_holders(session: AsyncSession, viewer: Viewer) -> int:
    """How many holders the viewer may see."""
    statement = _visible_holders(select(func.count()).select_from(AccountHolder), viewer)
    return int((await session.execute(statement)).scalar_one())


def visible_account_ids(viewer: Viewer) -> Select[Any]:
    """The ids of the accounts the viewer may see: their own, or all."""
    ids = select(Account.id)
    if viewer.sees_all_accounts():
        return ids
    return ids.join(AccountHolder, AccountHolder.id == Account.holder_id).where(
        AccountHolder.user_id == viewer.user_id
    )
