"""One pooled connection and one snapshot per operation; authentication is its first statement."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from db.session import Database
from tests.support.identity import gql, signed_in
from tests.support.money import customer
from tests.support.queries import count_statements

ME = "{ me { id email } }"
DASHBOARD = """
{ me { accounts(first: 10) { edges { node {
  balance { amount currency }
  transactions(first: 10) { edges { node { amount { amount } type createdAt } } }
  cards { last4 status }
} } } } }
"""


class PoolUse:
    """Pool checkouts, transactions begun and the driver connections statements ran on."""

    def __init__(self) -> None:
        self.checkouts = 0
        self.begins = 0
        self.connections: list[int] = []


@contextmanager
def pool_use(engine: AsyncEngine) -> Iterator[PoolUse]:
    """Watch `engine`'s pool and statements while the block runs."""
    use = PoolUse()

    def checkout(*_: Any) -> None:
        use.checkouts += 1

    def begin(*_: Any) -> None:
        use.begins += 1

    def statement(connection: Any, *_: Any) -> None:
        use.connections.append(id(connection.connection.dbapi_connection))

    listeners = [
        (engine.sync_engine.pool, "checkout", checkout),
        (engine.sync_engine, "begin", begin),
        (engine.sync_engine, "before_cursor_execute", statement),
    ]
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    try:
        yield use
    finally:
        for target, name, listener in listeners:
            event.remove(target, name, listener)


def transaction_control(database: Database) -> list[str]:
    """The transaction statements the statement counter sees around one snapshot's reads.

    SQLite's BEGIN is ours (db/repositories/connections.py); asyncpg begins and ends its
    transactions itself, out of the cursor's sight, and sqlite3 ends them without SQL.
    """
    return ["BEGIN"] if database.dialect == "sqlite" else []


async def test_me_is_one_statement_on_one_connection(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    user = await signed_in(client, "ann")
    database: Database = app.state.database
    with (
        pool_use(database.engine) as use,
        count_statements(database.engine, transaction_control=True) as counter,
    ):
        body = await gql(client, ME, token=user.access_token)
    assert body["data"] == {"me": {"id": user.global_id, "email": "ann@example.com"}}, body
    assert counter.statements[: len(transaction_control(database))] == transaction_control(database)
    assert counter.count == len(transaction_control(database)) + 1, counter.statements
    assert "FROM auth_sessions" in counter.statements[-1]
    assert (use.checkouts, use.begins) == (1, 1)


async def test_authentication_and_the_reads_of_an_operation_share_one_connection(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    user, _ = await customer(client, "bea", "EUR")
    database: Database = app.state.database
    with pool_use(database.engine) as use, count_statements(database.engine) as counter:
        body = await gql(client, DASHBOARD, token=user.access_token)
    assert "errors" not in body, body
    [account] = body["data"]["me"]["accounts"]["edges"]
    assert account["node"]["balance"] == {"amount": 0, "currency": "EUR"}
    reads = [s for s in counter.statements if s.lstrip().upper().startswith("SELECT")]
    # The caller, the user's accounts, their first transaction pages, their cards.
    assert len(reads) == 4, reads
    assert "FROM auth_sessions" in reads[0]
    assert "FROM accounts JOIN account_holders" in reads[1]
    # Every read ran on the operation's one connection; the audit READ row of the cards is
    # stored in a write transaction once the reads are done.
    read_connections = use.connections[: len(transaction_control(database)) + len(reads)]
    assert len(set(read_connections)) == 1, counter.statements


async def test_an_anonymous_health_check_is_one_statement(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    database: Database = app.state.database
    with pool_use(database.engine) as use, count_statements(database.engine) as counter:
        body = await gql(client, "{ health { status } }")
    assert body["data"] == {"health": {"status": "OK"}}, body
    assert counter.statements == ["SELECT 1"]
    assert (use.checkouts, use.begins) == (1, 1)


async def test_an_operation_that_reads_nothing_checks_out_no_connection(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    database: Database = app.state.database
    with pool_use(database.engine) as use, count_statements(database.engine) as counter:
        body = await gql(client, "{ __typename }")
    assert body["data"] == {"__typename": "Query"}, body
    assert (use.checkouts, counter.count) == (0, 0)
