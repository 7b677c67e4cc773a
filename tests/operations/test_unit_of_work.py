"""One mutation, one unit of work: a single COMMIT that carries the change and its audit rows.

A query writes nothing of its own: its audit rows (sensitive reads, denials) are its share of a
group commit (db/audit/batch.py), one transaction writing only the audit trail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from db.session import Database
from tests.cards.test_cards import issue
from tests.support.audit import audit_rows
from tests.support.identity import STRONG_PASSWORD, gql, login, register
from tests.support.money import balance, customer, key, move, open_account, transfer

ISSUE_AND_READ_CARDS = """
mutation ($input: IssueCardInput!) {
  issueCard(input: $input) { card { account { cards { last4 } } } errors { code } }
}
"""
ACCOUNT_CARDS = "query ($id: ID!) { account(id: $id) { cards { last4 } } }"
AUDIT_TRAIL = {"audit_logs", "audit_chain_head"}

TRANSFER_TOO_MUCH = """
mutation ($input: TransferInput!) {
  transfer(input: $input) { transfer { id } errors { code field } }
}
"""


WRITES = re.compile(r"(?:^|\()\s*(?:INSERT INTO|UPDATE|DELETE FROM)\s+\"?(\w+)", re.IGNORECASE)
"""A statement that writes a table, or a CTE that does (`... AS (INSERT INTO t ...)`)."""
SHARED_COUNTERS = "rate_limit_counters"
"""Rate limits shared by every instance (PostgreSQL): counted in their own transactions."""


@contextmanager
def count_commits(engine: AsyncEngine) -> Iterator[list[set[str]]]:
    """The tables each committed transaction of the block wrote (rate-limit counters aside)."""
    commits: list[set[str]] = []
    written: dict[int, set[str]] = {}

    def executed(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        tables = set(WRITES.findall(statement)) - {SHARED_COUNTERS}
        if tables:  # a CTE may write several (PostgreSQL's audit append)
            written.setdefault(id(connection), set()).update(tables)

    def committed(connection: Any) -> None:
        tables = written.pop(id(connection), set())
        if tables:
            commits.append(tables)

    def rolled_back(connection: Any) -> None:
        written.pop(id(connection), None)

    listeners = [
        ("before_cursor_execute", executed),
        ("commit", committed),
        ("rollback", rolled_back),
    ]
    for name, listener in listeners:
        event.listen(engine.sync_engine, name, listener)
    try:
        yield commits
    finally:
        for name, listener in listeners:
            event.remove(engine.sync_engine, name, listener)


async def test_a_transfer_is_one_commit_with_its_audit_rows(
    client: httpx.AsyncClient, app: Starlette, database: Database
) -> None:
    ann, source = await customer(client)
    target = await open_account(client, ann)
    await move(client, ann, "deposit", source, 1_000)
    before = len(await audit_rows(database))

    with count_commits(app.state.database.engine) as transactions:
        payload = await transfer(client, ann, source, target, 400)

    assert payload["errors"] == []
    # One commit wrote the transfer, both legs, both balances, the key, the owner's data
    # version and the audit rows.
    assert transactions == [
        {"transfers", "transactions", "accounts", "idempotency_keys", "users", "audit_logs",
         "audit_chain_head"}
    ], transactions  # fmt: skip
    created = (await audit_rows(database))[before:]
    kinds = sorted((row["action"], row["entity_type"]) for row in created)
    assert kinds == [
        ("CREATE", "LedgerTransaction"),
        ("CREATE", "LedgerTransaction"),
        ("CREATE", "Transfer"),
        ("UPDATE", "Account"),
        ("UPDATE", "Account"),
    ], kinds
    assert await balance(client, ann, source) == 600
    assert await balance(client, ann, target) == 400


async def test_a_refused_transfer_commits_nothing(
    client: httpx.AsyncClient, app: Starlette, database: Database
) -> None:
    ann, source = await customer(client)
    target = await open_account(client, ann)
    before = len(await audit_rows(database))
    variables = {
        "input": {
            "fromAccountId": source, "toAccountId": target, "amount": 5,
            "idempotencyKey": key(),
        }
    }  # fmt: skip

    with count_commits(app.state.database.engine) as transactions:
        body = await gql(client, TRANSFER_TOO_MUCH, variables, token=ann.access_token)

    assert body["data"]["transfer"]["errors"] == [
        {"code": "INSUFFICIENT_FUNDS", "field": ["input", "amount"]}
    ]
    assert transactions == [], transactions
    assert len(await audit_rows(database)) == before
    assert await balance(client, ann, source) == 0


async def test_a_sign_in_and_a_failed_one_are_one_commit_each(
    client: httpx.AsyncClient, app: Starlette, database: Database
) -> None:
    await register(client, "ann")
    engine = app.state.database.engine

    with count_commits(engine) as transactions:
        body = await login(client, "ann", STRONG_PASSWORD)
    assert "errors" not in body, body
    assert len(transactions) == 1, transactions
    assert {"auth_sessions", "audit_logs"} <= transactions[0], transactions

    with count_commits(engine) as transactions:
        body = await login(client, "ann", STRONG_PASSWORD + "x")
    assert body["errors"][0]["extensions"]["code"] == "INVALID_CREDENTIALS"
    # The failure is counted and audited in one commit, before the refusal is answered.
    assert len(transactions) == 1, transactions
    assert {"login_throttles", "audit_logs"} <= transactions[0], transactions
    failed = await audit_rows(database, action="LOGIN_FAILED")
    assert [row["error_message"] for row in failed] == ["wrong password"]


async def test_a_plain_query_commits_nothing_and_an_audited_one_only_its_audit_rows(
    client: httpx.AsyncClient, app: Starlette, database: Database
) -> None:
    ann, account = await customer(client)
    await issue(client, ann, account)
    engine = app.state.database.engine

    with count_commits(engine) as transactions:
        body = await gql(client, "{ me { id } }", token=ann.access_token)
    assert "errors" not in body, body
    assert transactions == [], transactions

    before = len(await audit_rows(database))
    with count_commits(engine) as transactions:
        body = await gql(client, ACCOUNT_CARDS, {"id": account}, token=ann.access_token)
    [card] = body["data"]["account"]["cards"]
    assert len(card["last4"]) == 4
    assert transactions == [AUDIT_TRAIL], transactions
    [read] = (await audit_rows(database))[before:]
    assert (read["action"], read["entity_type"]) == ("READ", "Card")


async def test_a_mutation_commits_its_change_then_its_payload_reads_join_a_batch(
    client: httpx.AsyncClient, app: Starlette, database: Database
) -> None:
    ann, account = await customer(client)
    before = len(await audit_rows(database))
    variables = {"input": {"accountId": account, "type": "DEBIT"}}

    with count_commits(app.state.database.engine) as transactions:
        body = await gql(client, ISSUE_AND_READ_CARDS, variables, token=ann.access_token)

    payload = body["data"]["issueCard"]
    assert payload["errors"] == [], body
    [card] = payload["card"]["account"]["cards"]
    assert len(card["last4"]) == 4
    # The change with its owner's data version and its audit rows, then the READ row of the
    # payload's card list.
    assert transactions == [{"cards", "users", *AUDIT_TRAIL}, AUDIT_TRAIL], transactions
    created = (await audit_rows(database))[before:]
    assert [(row["action"], row["entity_type"]) for row in created] == [
        ("CREATE", "Card"), ("READ", "Card")
    ]  # fmt: skip
