"""Keyset pagination (sqlakeyset) with opaque, insert-stable cursors."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlakeyset.asyncio import select_page
from sqlakeyset.results import unserialize_bookmark
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from db.errors import BadRequest

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
ItemT = TypeVar("ItemT")


@dataclass(frozen=True, slots=True)
class Page(Generic[ItemT]):
    """One page of results with a cursor for each item."""

    items: list[tuple[str, ItemT]]
    has_next: bool
    has_previous: bool


def encode_cursor(bookmark: str) -> str:
    """An opaque cursor for a sqlakeyset bookmark."""
    return base64.urlsafe_b64encode(bookmark.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The bookmark inside a cursor, or BAD_REQUEST when it was not made by us."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        bookmark = base64.urlsafe_b64decode(padded.encode()).decode()
        unserialize_bookmark(bookmark)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, NotImplementedError):
        raise BadRequest("`after` is not a valid cursor", field=["after"]) from None
    return bookmark


def page_size(first: int | None) -> int:
    """`first` checked against the 1..100 bound (default 20)."""
    size = DEFAULT_PAGE_SIZE if first is None else first
    if not 1 <= size <= MAX_PAGE_SIZE:
        msg = f"`first` must be between 1 and {MAX_PAGE_SIZE}"
        raise BadRequest(msg, field=["first"])
    return size


async def keyset_page(
    session: AsyncSession, statement: Select[Any], first: int | None, after: str | None
) -> Page[Any]:
    """Run an ordered select one page at a time; the ORDER BY must end with a unique key."""
    size = page_size(first)
    bookmark = decode_cursor(after) if after else None
    try:
        page = await select_page(session, statement, per_page=size, page=bookmark)
    except (ValueError, TypeError) as error:  # a cursor made for another ordering
        raise BadRequest("`after` does not match this query", field=["after"]) from error
    items = [
        (encode_cursor(page.paging.get_bookmark_at(index)), row[0])  # type: ignore[no-untyped-call]
        for index, row in enumerate(page)
    ]
    return Page(items=items, has_next=page.paging.has_next, has_previous=bookmark is not None)
