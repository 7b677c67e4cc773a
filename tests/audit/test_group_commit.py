"""Audit rows queued by operations (reads, denials) are group-committed by the process.

Concurrent operations share one write transaction and one chain append; each answers only after
its batch committed, and a batch that fails turns every answer of it into UNAVAILABLE. The HTTP
tests run on SQLite and PostgreSQL; the batcher's own rules are checked with a fake store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from db.audit import chain
from db.audit.batch import Attributed, AuditBatcher
from db.audit.entries import AuditContext, AuditEntry
from db.errors import Unavailable
from db.models import AuditAction
from db.session import Database
from tests.cards.test_cards import CARD, customer, issue
from tests.identity.test_users_queries import assert_top_level
from tests.support.audit import audit_chain, last_sequence, rows_after
from tests.support.identity import SignedIn, gql, signed_in_with_role
from tests.support.queries import count_statements
from tests.support.ws import bearer, init, live_app, run

CARD_ID = "query($id: ID!) { card(id: $id) { id } }"
READERS = 10
READS_EACH = 2

AppendEach = Callable[..., Awaitable[chain.Appended | None]]


def entry(name: str) -> AuditEntry:
    """A READ entry told apart by its entity id."""
    return AuditEntry(action=AuditAction.READ, entity_type="Card", entity_id=name)


def context(request_id: str) -> AuditContext:
    """The context of one request."""
    return AuditContext(request_id=request_id, ip_address="10.0.0.1", user_agent=request_id)


class FakeStore:
    """Records each batch it is given; fails while `failing` is set."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str | None, str | None]]] = []
        self.failing = False

    async def __call__(self, rows: Sequence[Attributed]) -> None:
        await asyncio.sleep(0)  # a real store awaits the database
        if self.failing:
            msg = "the write failed"
            raise RuntimeError(msg)
        self.batches.append([(ctx.request_id, row.entity_id) for row, ctx in rows])


async def test_a_lone_operation_is_committed_at_once() -> None:
    store = FakeStore()
    batcher = AuditBatcher(store)
    await asyncio.wait_for(batcher.submit([entry("a")], context("r1")), timeout=1)
    assert store.batches == [[("r1", "a")]]
    await batcher.submit([], context("r2"))  # nothing queued: no flush at all
    assert store.batches == [[("r1", "a")]]
    assert batcher.waiting == 0


async def test_operations_arriving_during_a_flush_share_the_next_one_in_order() -> None:
    store = FakeStore()
    batcher = AuditBatcher(store, max_rows=4)
    await asyncio.gather(
        batcher.submit([entry("a1"), entry("a2")], context("a")),
        batcher.submit([entry("b1")], context("b")),
        batcher.submit([entry("c1"), entry("c2")], context("c")),
        batcher.submit([entry("d1"), entry("d2"), entry("d3"), entry("d4"), entry("d5")],
                       context("d")),
        batcher.submit([entry("e1")], context("e")),
    )  # fmt: skip
    # All five arrived before the first flush ran; a batch holds at most 4 rows, never splits
    # an operation's rows (d's 5 go alone) and keeps each operation's order.
    assert store.batches == [
        [("a", "a1"), ("a", "a2"), ("b", "b1")],
        [("c", "c1"), ("c", "c2")],
        [("d", "d1"), ("d", "d2"), ("d", "d3"), ("d", "d4"), ("d", "d5")],
        [("e", "e1")],
    ]


async def test_a_failed_batch_fails_each_of_its_operations_and_the_next_batch_works() -> None:
    store = FakeStore()
    batcher = AuditBatcher(store)
    store.failing = True
    outcomes = await asyncio.gather(
        batcher.submit([entry("a")], context("a")),
        batcher.submit([entry("b")], context("b")),
        return_exceptions=True,
    )
    assert [type(outcome) for outcome in outcomes] == [Unavailable, Unavailable]
    assert store.batches == []
    store.failing = False
    await batcher.submit([entry("c")], context("c"))
    assert store.batches == [[("c", "c")]]


async def test_a_cancelled_operation_leaves_its_batch_committed() -> None:
    store = FakeStore()
    batcher = AuditBatcher(store)
    waiting = asyncio.create_task(batcher.submit([entry("a")], context("a")))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await batcher.drain()
    assert store.batches == [[("a", "a")]]


# --- over HTTP, on both databases ------------------------------------------------------------


async def card_owners(client: httpx.AsyncClient, count: int) -> list[tuple[SignedIn, str]]:
    """`count` users, each with one card; returns each user and the card's global id."""
    owners = []
    for index in range(count):
        user, account = await customer(client, f"owner{index}")
        owners.append((user, (await issue(client, user, account))["card"]["id"]))
    return owners


async def read_card(
    client: httpx.AsyncClient, user: SignedIn, card_id: str, agent: str
) -> httpx.Response:
    """Read one card with a user agent of its own."""
    return await client.post(
        "/graphql",
        json={"query": CARD_ID, "variables": {"id": card_id}},
        headers={"authorization": f"Bearer {user.access_token}", "user-agent": agent},
    )


def spy_on_appends(
    monkeypatch: pytest.MonkeyPatch, database: Database, operations: int
) -> list[int]:
    """Count the rows of each chain append; the first waits until every operation handed rows in.

    The wait makes the batching deterministic: the first flush appends what was queued when it
    started, and every other operation arrives while that flush is in progress.
    """
    appended: list[int] = []
    all_in = asyncio.Event()
    handed_in = 0
    real_append: AppendEach = chain.append_each
    batcher = database.audit_batcher
    real_submit = batcher.submit

    async def counting_submit(entries: Sequence[AuditEntry], context: AuditContext) -> None:
        nonlocal handed_in
        queued = real_submit(entries, context)  # awaited below: queues the rows at once
        handed_in += 1
        if handed_in == operations:
            all_in.set()
        await queued

    async def spy(session: Any, entries: Sequence[Attributed], **kwargs: Any) -> Any:
        if not appended:
            await asyncio.wait_for(all_in.wait(), timeout=30)
        appended.append(len(entries))
        return await real_append(session, entries, **kwargs)

    monkeypatch.setattr(batcher, "submit", counting_submit)
    monkeypatch.setattr(chain, "append_each", spy)
    return appended


async def test_concurrent_reads_share_one_commit_and_every_row_is_stored(
    client: httpx.AsyncClient, app: Starlette, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    owners = await card_owners(client, READERS)
    auditor = await signed_in_with_role(client, database, "inspector", "auditor")
    before = await last_sequence(database)
    appended = spy_on_appends(monkeypatch, app.state.database, READERS * READS_EACH)

    requests = [
        (user, card_id, f"agent-{index}-{turn}")
        for index, (user, card_id) in enumerate(owners)
        for turn in range(READS_EACH)
    ]
    responses = await asyncio.gather(
        *(read_card(client, user, card_id, agent) for user, card_id, agent in requests)
    )

    bodies = [response.json() for response in responses]
    assert [response.status_code for response in responses] == [200] * len(requests)
    assert [body["data"]["card"]["id"] for body in bodies] == [card for _, card, _ in requests]
    # Two write transactions for twenty operations: the first flush takes what was queued when
    # it started, every other operation arrives while it is in progress and shares the second.
    assert len(appended) == 2, appended
    assert sum(appended) == len(requests)
    stored = await rows_after(database, before)
    assert sorted(
        (row["request_id"], row["user_agent"], row["user_id"], row["action"]) for row in stored
    ) == sorted(
        (body["extensions"]["requestId"], agent, user.user_id, "READ")
        for body, (user, _, agent) in zip(bodies, requests, strict=True)
    )
    assert len({row["request_id"] for row in stored}) == len(requests)
    monkeypatch.undo()
    status = await audit_chain(client, auditor.access_token)
    assert (status["valid"], status["checkedEntries"]) == (True, before + len(requests))


async def test_a_failed_batch_answers_unavailable_and_stores_nothing_of_it(
    client: httpx.AsyncClient, app: Starlette, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    owners = await card_owners(client, 3)
    auditor = await signed_in_with_role(client, database, "inspector", "auditor")
    before = await last_sequence(database)
    real: AppendEach = chain.append_each

    async def append_then_fail(session: Any, entries: Any, **kwargs: Any) -> Any:
        await real(session, entries, **kwargs)  # the rows are in the transaction ...
        msg = "the disk is full"
        raise RuntimeError(msg)  # ... which then fails as a whole

    monkeypatch.setattr(chain, "append_each", append_then_fail)
    responses = await asyncio.gather(
        *(read_card(client, user, card_id, "failing") for user, card_id in owners)
    )
    for response in responses:
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        body = response.json()
        error = assert_top_level(body, "UNAVAILABLE", 503)
        assert error["message"] == "The service is busy; try again shortly."
        assert "data" not in body  # the card is not delivered without its audit row
    assert await rows_after(database, before) == []

    monkeypatch.undo()
    user, card_id = owners[0]
    body = (await read_card(client, user, card_id, "recovered")).json()
    assert body["data"]["card"]["id"] == card_id, body
    [row] = await rows_after(database, before)
    assert (row["action"], row["request_id"], row["user_agent"]) == (
        "READ", body["extensions"]["requestId"], "recovered"
    )  # fmt: skip
    status = await audit_chain(client, auditor.access_token)
    assert (status["valid"], status["checkedEntries"]) == (True, before + 1)


async def test_a_plain_query_opens_no_write_transaction(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    owners = await card_owners(client, 1)
    user, card_id = owners[0]
    engine = app.state.database.engine

    with count_statements(engine, transaction_control=True) as plain:
        body = await gql(client, "{ me { id } }", token=user.access_token)
    assert body["data"]["me"]["id"] == user.global_id, body
    assert not [sql for sql in plain.statements if _writes(sql)], plain.statements

    with count_statements(engine, transaction_control=True) as audited:
        body = await gql(client, CARD, {"id": card_id}, token=user.access_token)
    assert body["data"]["card"]["id"] == card_id, body
    # Its READ row is its share of a batch: one append, in one write transaction (SQLite:
    # BEGIN IMMEDIATE, the rows, the chain head; PostgreSQL: the rows, then one statement
    # moving the chain head and notifying the other instances).
    assert [sql.split(None, 1)[0] for sql in audited.statements if _writes(sql)] == (
        ["BEGIN", "INSERT", "UPDATE"]
        if app.state.database.dialect == "sqlite"
        else ["INSERT", "WITH"]
    ), audited.statements


def _writes(statement: str) -> bool:
    words = statement.upper()
    return words.startswith(("INSERT", "UPDATE", "DELETE", "BEGIN IMMEDIATE")) or (
        words.startswith("WITH") and ("INSERT INTO" in words or "UPDATE " in words)
    )


async def test_over_a_websocket_a_query_is_sent_only_once_its_rows_are_stored(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_app(database_url, tmp_path) as live:
        [(user, card_id)] = await card_owners(live.http, 1)
        before = await last_sequence(live.database)
        query = f'{{ card(id: "{card_id}") {{ id }} }}'
        real: AppendEach = chain.append_each

        async def failing(*_: Any, **__: Any) -> Any:
            msg = "the disk is full"
            raise RuntimeError(msg)

        async with live.connect() as ws:
            await init(ws, bearer(user.access_token))
            monkeypatch.setattr(chain, "append_each", failing)
            withheld = await run(ws, "1", query)
            monkeypatch.setattr(chain, "append_each", real)
            served = await run(ws, "2", query)

        [error] = withheld["errors"]
        assert (withheld.get("data"), error["extensions"]["code"]) == (None, "UNAVAILABLE")
        assert served["data"] == {"card": {"id": card_id}}, served
        [row] = await rows_after(live.database, before)
        assert (row["action"], row["entity_type"], row["user_id"]) == (
            "READ", "Card", user.user_id
        )  # fmt: skip


async def test_operations_waiting_when_the_flush_is_cancelled_are_told_unavailable() -> None:
    started, never = asyncio.Event(), asyncio.Event()

    async def hanging_store(_rows: Sequence[Attributed]) -> None:
        started.set()
        await never.wait()

    batcher = AuditBatcher(hanging_store)
    first = asyncio.create_task(batcher.submit([entry("a")], context("a")))
    await started.wait()
    second = asyncio.create_task(batcher.submit([entry("b")], context("b")))
    await asyncio.sleep(0)
    assert batcher.waiting == 1
    flusher = batcher._flusher  # what a shutdown of the event loop cancels
    assert flusher is not None
    flusher.cancel()
    outcomes = await asyncio.gather(first, second, return_exceptions=True)
    assert [type(outcome) for outcome in outcomes] == [Unavailable, Unavailable]
    assert batcher.waiting == 0
    await batcher.drain()  # nothing left in flight
