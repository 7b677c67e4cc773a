"""Helpers to count SQL statements and post GraphQL operations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

TRANSACTION_CONTROL = frozenset({"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"})


class StatementCounter:
    """Counts the SQL statements an engine executes (BEGIN/COMMIT excluded)."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def count_statements(
    engine: AsyncEngine, *, transaction_control: bool = False
) -> Iterator[StatementCounter]:
    """Count the statements `engine` sends in the block (BEGIN/COMMIT sent as SQL too if asked)."""
    counter = StatementCounter()

    def before_execute(*args: Any) -> None:
        statement = str(args[2])
        if transaction_control or statement.split(None, 1)[0].upper() not in TRANSACTION_CONTROL:
            counter.statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before_execute)
    try:
        yield counter
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before_execute)


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST an operation and return the decoded body (asserting a JSON response)."""
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or {}
    )
    assert response.headers["content-type"].startswith("application/json"), response.text
    body: dict[str, Any] = response.json()
    return body
