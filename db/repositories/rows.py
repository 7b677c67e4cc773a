"""Helpers every repository shares: fetch rows of a statement, optionally row-locked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

RowT = TypeVar("RowT")


def _locked(statement: Select[RowT], for_update: bool, of: Any = None) -> Select[RowT]:
    return statement.with_for_update(of=of) if for_update else statement


async def first(
    session: AsyncSession, statement: Select[RowT], *, for_update: bool = False
) -> RowT | None:
    """The first row of `statement`; `for_update` locks it until the transaction ends."""
    return (await session.execute(_locked(statement, for_update))).scalars().first()


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
