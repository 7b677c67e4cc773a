"""Keyset pagination (sqlakeyset) with opaque, insert-stable cursors."""

from __future__ import annotations

import base64
import binascii
import csv
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlakeyset.asyncio import select_page
from sqlakeyset.results import serialize_bookmark, unserialize_bookmark
from sqlalchemy import Row, Select, bindparam, func, select
from sqlalchemy.exc import StatementError
from sqlalchemy.sql.elements import KeyedColumnElement

from db.errors import BadRequest
from db.repositories.rows import Reader

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
INT64 = 2**63
ItemT = TypeVar("ItemT")


def _no_cursor(index: int) -> str:
    raise IndexError(index)


def _entity(row: Row[Any]) -> Any:
    return row[0]


@dataclass(frozen=True, slots=True)
class Page(Generic[ItemT]):
    """One page of results; an item's cursor is only made when asked for (`cursor_at`)."""

    rows: list[ItemT]
    has_next: bool
    has_previous: bool
    cursor_at: Callable[[int], str] = _no_cursor


def encode_cursor(bookmark: str, ordering: str = "") -> str:
    """An opaque cursor for a sqlakeyset bookmark, tagged with the ordering it belongs to."""
    return base64.urlsafe_b64encode(f"{ordering}|{bookmark}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, ordering: str = "") -> str:
    """The bookmark inside a cursor, or BAD_REQUEST when it was not made by us for `ordering`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.b64decode(padded.encode(), altchars=b"-_", validate=True).decode()
        tag, separator, bookmark = text.partition("|")
        place, backwards = unserialize_bookmark(bookmark)
    except (
        binascii.Error, ValueError, TypeError, OverflowError, NotImplementedError, csv.Error
    ):  # fmt: skip
        raise BadRequest("`after` is not a valid cursor", field="after") from None
    if not separator or not place or backwards:
        raise BadRequest("`after` is not a valid cursor", field="after")
    if tag != ordering:
        raise BadRequest("`after` was made for another ordering", field="after")
    return bookmark


def _column_type(clause: Any) -> type:
    """The Python type of an ORDER BY clause's column (through asc()/desc() and decorators)."""
    column_type = getattr(clause, "element", clause).type
    column_type = getattr(column_type, "impl_instance", column_type)
    try:
        python_type: type = column_type.python_type
    except NotImplementedError:  # pragma: no cover - every ordering column declares one
        return object
    return python_type


def _fits(value: object, expected: type) -> bool:
    """Whether a cursor value has the column's type and a value the database can compare."""
    if type(value) is not expected:
        return False
    if isinstance(value, int):
        return -INT64 <= value < INT64
    if isinstance(value, str):  # PostgreSQL text cannot hold NUL (a cursor is valid UTF-8)
        return "\x00" not in value
    if isinstance(value, datetime):
        try:
            return value.tzinfo is not None and bool(value.astimezone(UTC))
        except OverflowError:  # e.g. year 1 at a positive offset
            return False
    return isinstance(value, uuid.UUID)


def check_place(place: Sequence[object], statement: Select[Any]) -> None:
    """BAD_REQUEST unless a decoded cursor holds one value of the right type per ORDER BY column.

    A cursor is opaque to clients but not tamper-proof: a forged one could otherwise hand the
    database values it cannot hold (64-bit overflow, NUL, dates beyond UTC) or of the wrong type.
    """
    # SQLAlchemy offers no public accessor for a select's ORDER BY; sqlakeyset reads it too.
    columns = statement._order_by_clauses
    if len(place) != len(columns) or not all(
        _fits(value, _column_type(column)) for value, column in zip(place, columns, strict=True)
    ):
        raise BadRequest("`after` is not a valid cursor", field="after")


def page_size(first: int | None) -> int:
    """`first` checked against the 1..100 bound (default 20)."""
    size = DEFAULT_PAGE_SIZE if first is None else first
    if not 1 <= size <= MAX_PAGE_SIZE:
        msg = f"`first` must be between 1 and {MAX_PAGE_SIZE}"
        raise BadRequest(msg, field="first")
    return size


async def keyset_page(
    reader: Reader,
    statement: Select[Any],
    first: int | None,
    after: str | None,
    *,
    ordering: str,
    item: Callable[[Row[Any]], ItemT] = _entity,
) -> Page[ItemT]:
    """Run an ordered select one page at a time; the ORDER BY must end with a unique key.

    `ordering` names the ORDER BY (e.g. "username:asc"); cursors only work with the ordering
    that made them. `item` makes a page item of a row: by default its first column (the
    entity of an ORM select); a column select passes its record's converter. sqlakeyset runs
    Core selects on a session or a bare connection alike.
    """
    size = page_size(first)
    bookmark = decode_cursor(after, ordering) if after is not None else None
    if bookmark is not None:
        check_place(unserialize_bookmark(bookmark).place or (), statement)
    try:
        page = await select_page(reader, statement, per_page=size, page=bookmark)
    except (ValueError, TypeError, StatementError) as error:  # values of the wrong type
        raise BadRequest("`after` does not match this query", field="after") from error
    paging = page.paging

    def cursor_at(index: int) -> str:
        return encode_cursor(paging.get_bookmark_at(index), ordering)  # type: ignore[no-untyped-call]

    return Page(
        rows=[item(row) for row in page], has_next=paging.has_next,
        has_previous=bookmark is not None, cursor_at=cursor_at,
    )  # fmt: skip


def page_of(
    rows: list[Any], place: Callable[[Any], tuple[Any, ...]], ordering: str, size: int
) -> Page[Any]:
    """A first page built from rows fetched elsewhere (e.g. one window query for many lists).

    `rows` holds up to `size + 1` rows in page order; `place` gives a row's ORDER BY values, so
    its cursors are the ones `keyset_page` makes and continue with it.
    """
    shown = rows[:size]

    def cursor_at(index: int) -> str:
        return encode_cursor(serialize_bookmark((place(shown[index]), False)), ordering)

    return Page(rows=shown, has_next=len(rows) > size, has_previous=False, cursor_at=cursor_at)


def first_pages_query(
    statement: Select[Any], group: KeyedColumnElement[Any], newest: KeyedColumnElement[Any]
) -> Select[Any]:
    """`statement` ranked within each `group`, newest first: the rows of each group's first page.

    Build it once (at import or per filter shape): the groups (`keys`, expanding) and the rows
    per group (`per_group`) are bound parameters. `statement` selects `group` and `newest`.
    """
    rank = func.row_number().over(partition_by=group, order_by=newest.desc())
    ranked = (
        statement.where(group.in_(bindparam("keys", expanding=True)))
        .add_columns(rank.label("rank"))
        .subquery()
    )
    return (
        select(*list(ranked.c)[:-1])  # every column but the rank
        .where(ranked.c.rank <= bindparam("per_group"))
        .order_by(ranked.c[group.key], ranked.c[newest.key].desc())
    )


async def first_pages_by(
    reader: Reader,
    query: Select[Any],
    params: dict[str, Any],
    keys: Sequence[Any],
    *,
    first: int | None,
    item: Callable[[Row[Any]], ItemT],
    group_of: Callable[[ItemT], Any],
    place: Callable[[ItemT], tuple[Any, ...]],
    ordering: str,
) -> dict[Any, Page[ItemT]]:
    """The first page of each group among `keys`, in one statement (a `first_pages_query`).

    `params` binds the query's own parameters; `item` makes a record of a row and `group_of`
    says which group it is in. The pages' cursors are the ones `keyset_page` makes for
    `ordering`, so later pages continue with it.
    """
    size = page_size(first)
    found = await reader.execute(query, {**params, "keys": list(keys), "per_group": size + 1})
    grouped: dict[Any, list[ItemT]] = defaultdict(list)
    for row in found:
        record = item(row)
        grouped[group_of(record)].append(record)
    return {key: page_of(grouped.get(key, []), place, ordering, size) for key in keys}
