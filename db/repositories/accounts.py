"""Account holders and accounts: every read scoped to what the viewer may see."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Account, AccountHolder
from db.records.accounts import AccountRecord, AccountView, HolderRecord
from db.repositories.pages import Page, keyset_page
from db.repositories.rows import Reader, every, grouped, one_by
from db.repositories.scope import Viewer


def _sees_all_holders(viewer: Viewer) -> bool:
    # Whoever may read any account may also read whose it is.
    return viewer.sees_all_holders() or viewer.sees_all_accounts()


def _visible_holders(statement: Select[Any], viewer: Viewer) -> Select[Any]:
    if _sees_all_holders(viewer):
        return statement
    return statement.where(AccountHolder.user_id == viewer.user_id)


def _visible_accounts(statement: Select[Any], viewer: Viewer) -> Select[Any]:
    if viewer.sees_all_accounts():
        return statement
    return statement.join(AccountHolder, AccountHolder.id == Account.holder_id).where(
        AccountHolder.user_id == viewer.user_id
    )


_holders, _accounts = AccountHolder.__table__, Account.__table__
_HOLDER_RECORD = [_holders.c[field.name] for field in fields(HolderRecord)]
_ACCOUNT_RECORD = [_accounts.c[field.name] for field in fields(AccountRecord)]
_OWN: BindParameter[uuid.UUID] = bindparam("viewer")
"""The viewer's user id, for readers who see only their own rows."""
# Statements are built once, with bind parameters, so SQLAlchemy compiles each of them once;
# Core statements get no soft-delete criteria from the ORM, so they spell them out.
_LIVE_HOLDERS = select(*_HOLDER_RECORD).where(_holders.c.deleted_at.is_(None))
_HOLDERS_BY_IDS = _LIVE_HOLDERS.where(_holders.c.id.in_(bindparam("ids", expanding=True)))
_HOLDERS_BY_USERS = _LIVE_HOLDERS.where(_holders.c.user_id.in_(bindparam("ids", expanding=True)))
_OWN_HOLDERS_BY_IDS = _HOLDERS_BY_IDS.where(_holders.c.user_id == _OWN)
_OWN_HOLDERS_BY_USERS = _HOLDERS_BY_USERS.where(_holders.c.user_id == _OWN)
_LIVE_ACCOUNTS = select(*_ACCOUNT_RECORD).where(_accounts.c.deleted_at.is_(None))
_OWN_ACCOUNTS = _LIVE_ACCOUNTS.join_from(
    _accounts, _holders, _holders.c.id == _accounts.c.holder_id
).where(_holders.c.user_id == _OWN, _holders.c.deleted_at.is_(None))
_BY_ACCOUNT_IDS = _accounts.c.id.in_(bindparam("ids", expanding=True))
_BY_HOLDER_IDS = _accounts.c.holder_id.in_(bindparam("ids", expanding=True))
_ACCOUNT_ORDER = (_accounts.c.created_at, _accounts.c.id)
_ACCOUNTS_BY_IDS = {
    True: _LIVE_ACCOUNTS.where(_BY_ACCOUNT_IDS),
    False: _OWN_ACCOUNTS.where(_BY_ACCOUNT_IDS),
}
_ACCOUNTS_OF_HOLDERS = {
    True: _LIVE_ACCOUNTS.where(_BY_HOLDER_IDS).order_by(*_ACCOUNT_ORDER),
    False: _OWN_ACCOUNTS.where(_BY_HOLDER_IDS).order_by(*_ACCOUNT_ORDER),
}
"""By whether the viewer sees all accounts."""
_ACCOUNTS_OF_USERS_FROM = (
    select(_holders.c.user_id, *_ACCOUNT_RECORD)
    .join_from(_accounts, _holders, _holders.c.id == _accounts.c.holder_id)
    .where(
        _holders.c.user_id.in_(bindparam("ids", expanding=True)),
        _holders.c.deleted_at.is_(None),
        _accounts.c.deleted_at.is_(None),
    )
    .order_by(*_ACCOUNT_ORDER)
)
_ACCOUNTS_OF_USERS = {
    True: _ACCOUNTS_OF_USERS_FROM,
    False: _ACCOUNTS_OF_USERS_FROM.where(_holders.c.user_id == _OWN),
}
"""By whether the viewer sees all accounts (whoever sees an account sees its holder)."""


async def holders_by_ids(
    reader: Reader, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, HolderRecord]:
    """The holders among `ids` the viewer may see."""
    statement = _HOLDERS_BY_IDS if _sees_all_holders(viewer) else _OWN_HOLDERS_BY_IDS
    result = await reader.execute(statement, {"ids": list(ids), "viewer": viewer.user_id})
    return {row.id: HolderRecord(*row) for row in result}


async def holders_by_users(
    reader: Reader, viewer: Viewer, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, HolderRecord]:
    """Each user's holder profile, where the viewer may see it."""
    statement = _HOLDERS_BY_USERS if _sees_all_holders(viewer) else _OWN_HOLDERS_BY_USERS
    result = await reader.execute(statement, {"ids": list(user_ids), "viewer": viewer.user_id})
    return {row.user_id: HolderRecord(*row) for row in result}


async def holders_page(
    session: AsyncSession, viewer: Viewer, first: int | None, after: str | None
) -> Page[AccountHolder]:
    """Holders the viewer may see, oldest first."""
    statement = _visible_holders(select(AccountHolder), viewer).order_by(
        AccountHolder.created_at, AccountHolder.id
    )
    return await keyset_page(session, statement, first, after, ordering="created_at:asc")


async def accounts_by_ids(
    reader: Reader, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AccountRecord]:
    """The accounts among `ids` the viewer may see."""
    statement = _ACCOUNTS_BY_IDS[viewer.sees_all_accounts()]
    result = await reader.execute(statement, {"ids": list(ids), "viewer": viewer.user_id})
    return {row.id: AccountRecord(*row) for row in result}


async def accounts_of_holders(
    reader: Reader, viewer: Viewer, holder_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[AccountRecord]]:
    """Each holder's accounts (oldest first) that the viewer may see, in one statement."""
    statement = _ACCOUNTS_OF_HOLDERS[viewer.sees_all_accounts()]
    result = await reader.execute(statement, {"ids": list(holder_ids), "viewer": viewer.user_id})
    return grouped((row.holder_id, AccountRecord(*row)) for row in result)


async def accounts_of_users(
    reader: Reader, viewer: Viewer, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[AccountRecord]]:
    """Each user's accounts (through their holder, oldest first) that the viewer may see."""
    statement = _ACCOUNTS_OF_USERS[viewer.sees_all_accounts()]
    result = await reader.execute(statement, {"ids": list(user_ids), "viewer": viewer.user_id})
    return grouped((row[0], AccountRecord(*row[1:])) for row in result)


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


def account_place(row: AccountView) -> tuple[Any, ...]:
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
