"""Sibling fields resolve concurrently; their loader batches share one serialized session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import strawberry
from aiodataloader import DataLoader
from sqlalchemy import select

from core.settings import Settings
from db.session import Database
from db.unit_of_work import UnitOfWork
from graph.app import create_app
from graph.context import Context
from graph.schema import LedgerSchema, schema_extensions
from tests.support.lifespan import app_lifespan
from tests.support.models import Widget, create_test_tables
from tests.support.queries import count_statements, graphql

both_batches_started = asyncio.Event()
started: set[str] = set()


async def _rendezvous(name: str) -> None:
    """Wait until the other sibling batch has started too: proof that they overlap."""
    started.add(name)
    if {"widgets", "owners"} <= started:
        both_batches_started.set()
    await asyncio.wait_for(both_batches_started.wait(), timeout=5)


class WidgetsByName(DataLoader):  # type: ignore[misc]
    def __init__(self, uow: UnitOfWork, scope: object) -> None:
        super().__init__()
        self.uow = uow

    async def batch_load_fn(self, names: list[str]) -> list[Widget | None]:
        await _rendezvous("widgets")
        async with self.uow.read() as session:
            rows = (await session.execute(select(Widget).where(Widget.name.in_(names)))).scalars()
            by_name = {row.name: row for row in rows}
        return [by_name.get(name) for name in names]


class OwnerByName(DataLoader):  # type: ignore[misc]
    def __init__(self, uow: UnitOfWork, scope: object) -> None:
        super().__init__()
        self.uow = uow

    async def batch_load_fn(self, names: list[str]) -> list[str | None]:
        await _rendezvous("owners")
        async with self.uow.read() as session:
            rows = await session.execute(
                select(Widget.name, Widget.owner).where(Widget.name.in_(names))
            )
            owners = {row.name: row.owner for row in rows}
        return [owners.get(name) for name in names]


@strawberry.type
class WidgetNode:
    name: str
    counter: int

    @strawberry.field
    async def owner(self, info: strawberry.Info[Context, None]) -> str | None:
        result: str | None = await info.context.loaders.get(OwnerByName).load(self.name)
        return result


@strawberry.type
class WidgetQuery:
    @strawberry.field
    async def widgets(
        self, info: strawberry.Info[Context, None], names: list[str]
    ) -> list[WidgetNode]:
        rows = await info.context.loaders.get(WidgetsByName).load_many(names)
        return [WidgetNode(name=row.name, counter=row.counter) for row in rows if row]

    @strawberry.field
    async def owners(
        self, info: strawberry.Info[Context, None], names: list[str]
    ) -> list[str | None]:
        result: list[str | None] = await info.context.loaders.get(OwnerByName).load_many(names)
        return result


@pytest.fixture
async def widget_client(
    settings: Settings, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    both_batches_started.clear()
    started.clear()
    schema = LedgerSchema(query=WidgetQuery, extensions=schema_extensions(settings))
    app = create_app(settings, schema=schema)
    async with app_lifespan(app):
        database: Database = app.state.database
        await create_test_tables(database.engine)
        async with database.unit_of_work() as uow, uow.write() as session:
            session.add_all(
                Widget(name=f"w{i:02}", owner=f"owner{i}", counter=i) for i in range(30)
            )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, database


QUERY = """
query Siblings($names: [String!]!) {
  widgets(names: $names) { name counter }
  owners(names: $names)
}
"""

NESTED = "query Nested($names: [String!]!) { widgets(names: $names) { name owner } }"


@pytest.mark.parametrize("size", [3, 30])
async def test_sibling_loader_batches_run_at_once_on_one_session(
    widget_client: tuple[httpx.AsyncClient, Database], size: int
) -> None:
    client, database = widget_client
    names = [f"w{i:02}" for i in range(size)]
    with count_statements(database.engine) as counter:
        body = await graphql(client, QUERY, {"names": names})
    assert "errors" not in body, body
    assert [w["name"] for w in body["data"]["widgets"]] == names
    assert [w["counter"] for w in body["data"]["widgets"]] == list(range(size))
    assert body["data"]["owners"] == [f"owner{i}" for i in range(size)]
    assert both_batches_started.is_set()
    # One statement per loader batch, whatever the list size (BEGIN is not counted).
    assert counter.count == 2, counter.statements


@pytest.mark.parametrize("size", [2, 25])
async def test_nested_fields_batch_into_a_constant_number_of_statements(
    widget_client: tuple[httpx.AsyncClient, Database], size: int
) -> None:
    client, database = widget_client
    both_batches_started.set()  # no sibling rendezvous in this query
    names = [f"w{i:02}" for i in range(size)]
    with count_statements(database.engine) as counter:
        body = await graphql(client, NESTED, {"names": names})
    assert "errors" not in body, body
    assert [w["owner"] for w in body["data"]["widgets"]] == [f"owner{i}" for i in range(size)]
    assert counter.count == 2, counter.statements
