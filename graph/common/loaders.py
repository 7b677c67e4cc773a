"""Loader bases: per operation, scoped to the caller, results in key order.

Every loader of every domain is one of two shapes, and the batching of each is written here:

* `RowLoader` and `ListLoader`: keys are row (or owner) ids; one repository call returns
  `{id: value}` for the batch, and ids it leaves out (unknown, hidden, or without rows) get
  None or `[]`;
* `GroupedLoader`: keys are `(owner id, options)`; one repository call per distinct `options`
  in the batch returns `{owner id: value}` (e.g. first pages of many accounts' transactions).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import strawberry
from aiodataloader import DataLoader

from db.repositories.scope import Viewer
from db.unit_of_work import UnitOfWork
from graph.common.ids import node_uuid, not_found, parse_uuid

if TYPE_CHECKING:
    from graph.common.info import Info

KeyT = TypeVar("KeyT")
ValueT = TypeVar("ValueT")
OptionsT = TypeVar("OptionsT", bound=Hashable)


class Row(Protocol):
    """A row with a UUID primary key."""

    @property
    def id(self) -> uuid.UUID:
        """The row's id."""
        ...


RowT = TypeVar("RowT", bound=Row)
NodeT = TypeVar("NodeT")


class ViewerSource(Protocol):
    """Where a loader finds the operation's caller when a batch runs."""

    @property
    def viewer(self) -> Viewer:
        """The caller (anonymous until resolved)."""
        ...


class ScopedLoader(DataLoader[KeyT, ValueT], Generic[KeyT, ValueT]):
    """A loader bound to one operation's unit of work and caller."""

    def __init__(self, uow: UnitOfWork, scope: ViewerSource) -> None:
        super().__init__()
        self.uow = uow
        self.scope = scope

    @property
    def viewer(self) -> Viewer:
        """The operation's caller at the time of the batch."""
        return self.scope.viewer


class RowLoader(ScopedLoader[uuid.UUID, ValueT | None], Generic[ValueT]):
    """Rows by id: one repository call per batch; unknown and hidden ids are both None."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, ValueT]:
        """The batch's rows the caller may see, by id."""
        raise NotImplementedError

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[ValueT | None]:
        """One statement for the whole batch, results in key order."""
        found = await self.fetch(ids)
        return [found.get(row_id) for row_id in ids]


class ListLoader(ScopedLoader[uuid.UUID, list[ValueT]], Generic[ValueT]):
    """Lists by owner id (e.g. each account's cards); an owner without rows gets `[]`."""

    async def fetch(self, ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, list[ValueT]]:
        """The batch's lists by owner id."""
        raise NotImplementedError

    async def batch_load_fn(self, ids: Sequence[uuid.UUID]) -> list[list[ValueT]]:
        """One statement for the whole batch, results in key order."""
        found = await self.fetch(ids)
        return [found.get(owner_id, []) for owner_id in ids]


class GroupedLoader(ScopedLoader[tuple[uuid.UUID, OptionsT], ValueT], Generic[OptionsT, ValueT]):
    """Values by `(owner id, options)`: one repository call per distinct `options` in a batch."""

    async def fetch(
        self, options: OptionsT, owner_ids: list[uuid.UUID]
    ) -> Mapping[uuid.UUID, ValueT]:
        """The value for each owner under `options`; every owner id must be present."""
        raise NotImplementedError

    async def batch_load_fn(self, keys: Sequence[tuple[uuid.UUID, OptionsT]]) -> list[ValueT]:
        """One statement per distinct `options`, results in key order."""
        groups: dict[OptionsT, list[uuid.UUID]] = defaultdict(list)
        for owner_id, options in keys:
            groups[options].append(owner_id)
        results: dict[tuple[uuid.UUID, OptionsT], ValueT] = {}
        for options, owner_ids in groups.items():
            found = await self.fetch(options, owner_ids)
            results.update({(owner_id, options): found[owner_id] for owner_id in owner_ids})
        return [results[key] for key in keys]


async def nodes_by_ids(
    info: Info,
    loader: type[RowLoader[RowT]],
    node_ids: Iterable[str],
    node_of: Callable[[RowT], NodeT],
    *,
    audit: Callable[[RowT], None] | None = None,
) -> list[NodeT | None]:
    """The `node`/`nodes` lookup of a type: rows through its caller-scoped loader, in order.

    Malformed, unknown and hidden ids are all None; a refused token is refused here too.
    `audit` is called for each row found (sensitive reads).
    """
    await info.context.principal()
    ids = [parse_uuid(node_id) for node_id in node_ids]
    rows = await info.context.loaders.get(loader).load_many([i for i in ids if i is not None])
    found = {row.id: row for row in rows if row is not None}
    if audit is not None:
        for row in found.values():
            audit(row)
    return [node_of(found[row_id]) if row_id in found else None for row_id in ids]


async def visible_row(info: Info, loader: type[Any], value: strawberry.ID, type_name: str) -> Any:
    """The row behind a global id of `type_name` if the caller may see it; else NOT_FOUND."""
    row = await info.context.loaders.get(loader).load(node_uuid(value, type_name, ["id"]))
    if row is None:
        raise not_found(type_name, ["id"])
    return row
