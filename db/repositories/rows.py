"""Helpers every repository shares: fetch rows of a statement, optionally row-locked.

Reads behind loaders run Core selects of a model's columns into immutable records
(`record_columns`, `records`) on a `Reader`; writes and locking reads keep the ORM.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import fields
from typing import Any, TypeVar

from sqlalchemy import Column, ColumnElement, Row, Select, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.base import Base, columns_of
from db.models import Account, AccountHolder

Reader = AsyncSession | AsyncConnection
"""Where a read runs: the operation's session or its bare connection (same `execute`)."""

RowT = TypeVar("RowT")
RecordT = TypeVar("RecordT")
KeyT = TypeVar("KeyT", bound=Hashable)
ValueT = TypeVar("ValueT")


def _locked(statement: Select[RowT], for_update: bool, of: Any = None) -> Select[RowT]:
    return statement.with_for_update(of=of) if for_update else statement


async def first(
    session: AsyncSession, statement: Select[RowT], *, for_update: bool = False, of: Any = None
) -> RowT | None:
    """The first row of `statement`; `for_update` locks it (only the tables `of` names, if any)."""
    return (await session.execute(_locked(statement, for_update, of))).scalars().first()


async def one_by(
    session: AsyncSession,
    model: type[RowT],
    *conditions: ColumnElement[bool],
    for_update: bool = False,
) -> RowT | None:
    """The live `model` row matching every condition, optionally locked (see `first`)."""
    return await first(session, select(model).where(*conditions), for_update=for_update)


async def every(
    session: AsyncSession,
    statement: Select[RowT],
    *,
    for_update: bool = False,
    of: Any = None,
) -> Sequence[RowT]:
    """Every row of `statement`; `for_update` locks them (only the tables `of` names, if given)."""
    return (await session.execute(_locked(statement, for_update, of))).scalars().all()


def insert_for(session: AsyncSession) -> Any:
    """The dialect's `insert` (with ON CONFLICT support) for the database `session` is bound to."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def grouped(pairs: Iterable[tuple[KeyT, ValueT]]) -> dict[KeyT, list[ValueT]]:
    """Values grouped by key, in the order they come (an owner without rows has no key)."""
    groups: defaultdict[KeyT, list[ValueT]] = defaultdict(list)
    for key, value in pairs:
        groups[key].append(value)
    return dict(groups)


def record_columns(model: type[Base], record: type[Any]) -> list[Column[Any]]:
    """The table columns behind a record's fields, in field order (a record is built from a row).

    Table columns, not ORM attributes: a select of them runs on the Core path (no ORM compile,
    no soft-delete event), so live-row filters are written out (`live`).
    """
    by_attribute = columns_of(model)
    return [by_attribute[field.name] for field in fields(record)]  # type: ignore[misc]


def live(model: type[Base]) -> ColumnElement[bool]:
    """The condition that a soft-deletable row is not deleted."""
    return model.__table__.c.deleted_at.is_(None)


def visible_account_ids(sees_all_accounts: bool) -> Select[Any]:
    """The ids of the live accounts a viewer may see: all, or the `viewer_id` bound parameter's.

    With the soft-delete filters the ORM would add to an entity select, written out.
    """
    accounts = Account.__table__
    ids = select(accounts.c.id).where(live(Account))
    if sees_all_accounts:
        return ids
    holders = AccountHolder.__table__
    return ids.join(holders, holders.c.id == accounts.c.holder_id).where(
        holders.c.user_id == bindparam("viewer_id"), live(AccountHolder)
    )


async def records(
    reader: Reader,
    statement: Select[Any],
    params: dict[str, Any],
    record: Callable[..., RecordT],
) -> list[RecordT]:
    """Every row of a column select as a record (`record(*row)`: columns in field order)."""
    return [record(*row) for row in await reader.execute(statement, params)]


def as_record(record: Callable[..., RecordT]) -> Callable[[Row[Any]], RecordT]:
    """A converter from a row of `record_columns` to the record."""

    def convert(row: Row[Any]) -> RecordT:
        return record(*row)

    return convert
