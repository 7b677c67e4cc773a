"""Relay connections: page info, edges with lazy cursors, and the `node` field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import strawberry
from strawberry import relay
from strawberry.relay.types import GlobalIDValueError

from db.repositories.pages import Page
from graph.common.ids import parse_global_id
from graph.common.info import Info

RowT = TypeVar("RowT")
EdgeT = TypeVar("EdgeT")


def page_info(page: Page[Any]) -> relay.PageInfo:
    """Relay page info for a repository page."""
    last = len(page.rows) - 1
    return relay.PageInfo(
        has_next_page=page.has_next,
        has_previous_page=page.has_previous,
        start_cursor=page.cursor_at(0) if page.rows else None,
        end_cursor=page.cursor_at(last) if page.rows else None,
    )


@strawberry.type
class PageEdge:
    """Base of every edge: its place in a page, whose cursor is only encoded when selected."""

    page: strawberry.Private[Page[Any]]
    index: strawberry.Private[int]

    @strawberry.field(description="Pass it as `after` to continue after this edge.")
    def cursor(self) -> str:
        """The opaque cursor of this edge."""
        return self.page.cursor_at(self.index)


async def resolve_node(info: Info, id: strawberry.ID) -> relay.Node | None:
    """Any object by its global id; null when it does not exist or the caller may not see it."""
    global_id = parse_global_id(id)
    try:
        global_id.resolve_type(info)
    except GlobalIDValueError:
        return None
    node = await global_id.resolve_node(info, required=False)
    return node if isinstance(node, relay.Node) else None


def edges_of(
    page: Page[RowT], edge: Callable[..., EdgeT], node_of: Callable[[RowT], object]
) -> list[EdgeT]:
    """The edges of a page: each row as a node, with its place for a lazily encoded cursor."""
    return [edge(page=page, index=i, node=node_of(row)) for i, row in enumerate(page.rows)]
