"""Helpers every repository shares: fetch rows of a statement, optionally row-locked."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

RowT = TypeVar("RowT")
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
