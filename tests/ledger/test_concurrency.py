"""Money under concurrency: many parallel HTTP requests against a real server, on both backends.

Each test serves the app with uvicorn on a loopback port (`live_server`) and fires its requests
at once with `asyncio.gather`. Afterwards every balance is checked against the account's ledger
lines, read both directly through SQL and through `account.transactions`. SQLite serializes
writers (BEGIN IMMEDIATE with a busy timeout), so its concurrency is real but queued.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, Select, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper
from starlette.applications import Starlette

from db.base import utcnow
from db.models import IdempotencyRecord, LedgerTransaction, TransactionType, Transfer
from db.services import ledger as ledger_service
from db.session import Database
from tests.support.identity import SignedIn, gql, signed_in
from tests.support.money import balance, create_holder, key
from tests.support.money_load import (
    OK,
    OPERATIONS,
    Move,
    Outcome,
    at_once,
    funded_account,
    ledger,
    ledger_net_via_graphql,
    load_client,
    submit,
    tally,
)
from tests.support.server import live_server

START = 1000
WITHDRAWAL = 70
REQUESTS = 40
REUSED = "IDEMPOTENCY_KEY_REUSED"


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app served by a real uvicorn server on a loopback port."""
    async with live_server(app) as address, load_client(address) as client:
        yield client


@pytest.fixture
async def ann(http: httpx.AsyncClient) -> SignedIn:
    """A signed-in user with a holder profile."""
    user = await signed_in(http, "ann")
    await create_holder(http, user)
    return user


async def assert_holds(
    http: httpx.AsyncClient, user: SignedIn, database: Database, account: str, expected: int
) -> None:
    """The account holds `expected`, and that is what its ledger lines add up to."""
    stored = await ledger(database, account)
    assert stored.balance == expected, stored
    assert stored.consistent, stored
    assert await ledger_net_via_graphql(http, user, account) == expected
    assert await balance(http, user, account) == expected


async def count(database: Database, statement: Select[int]) -> int:
    """The single integer a COUNT statement returns."""
    async with database.unit_of_work() as uow, uow.read() as session:
        return int((await session.execute(statement)).scalar_one())


def on(operation: str, first: str, second: str) -> tuple[str, ...]:
    """The accounts a move of `operation` uses: a transfer needs both, the others only the first."""
    return (first, second) if operation == "transfer" else (first,)


def effect(request: Move) -> dict[str, int]:
    """How much the move changes each account it touches."""
    if request.operation == "transfer":
        source, target = request.accounts
        return {source: -request.amount, target: request.amount}
    sign = 1 if request.operation == "deposit" else -1
    return {request.accounts[0]: sign * request.amount}


def lines_of(request: Move) -> int:
    """How many ledger lines the move posts."""
    return 2 if request.operation == "transfer" else 1


async def assert_moved_once(
    http: httpx.AsyncClient, user: SignedIn, database: Database, accounts: list[str], winner: Move
) -> None:
    """Each account started with START and only `winner` moved money, posting only its lines."""
    changes = effect(winner)
    for account in accounts:
        await assert_holds(http, user, database, account, START + changes.get(account, 0))
    posted = [(await ledger(database, account)).lines for account in accounts]
    assert sum(posted) == len(accounts) + lines_of(winner)


async def snapshot(database: Database, accounts: list[str]) -> dict[str, tuple[int, int]]:
    """Each account's balance and number of ledger lines."""
    found = [await ledger(database, account) for account in accounts]
    return {account: (row.balance, row.lines) for account, row in zip(accounts, found, strict=True)}


async def test_withdrawals_beyond_the_balance_never_overdraw(
    http: httpx.AsyncClient, ann: SignedIn, database: Database
) -> None:
    account = await funded_account(http, ann, START)
    moves = [Move("withdraw", (account,), WITHDRAWAL) for _ in range(REQUESTS)]
    outcomes = await at_once(http, ann, moves)
    succeeded = START // WITHDRAWAL
    assert tally(outcomes) == {OK: succeeded, "INSUFFICIENT_FUNDS": REQUESTS - succeeded}
    await assert_holds(http, ann, database, account, START - succeeded * WITHDRAWAL)


async def test_transfers_beyond_the_balance_never_overdraw(
    http: httpx.AsyncClient, ann: SignedIn, database: Database
) -> None:
    source = await funded_account(http, ann, START)
    target = await funded_account(http, ann, 0)
    moves = [Move("transfer", (source, target), WITHDRAWAL) for _ in range(REQUESTS)]
    outcomes = await at_once(http, ann, moves)
    succeeded = START // WITHDRAWAL
    assert tally(outcomes) == {OK: succeeded, "INSUFFICIENT_FUNDS": REQUESTS - succeeded}
    await assert_holds(http, ann, database, source, START - succeeded * WITHDRAWAL)
    await assert_holds(http, ann, database, target, succeeded * WITHDRAWAL)
    assert await count(database, select(func.count()).select_from(Transfer)) == succeeded


async def test_concurrent_deposits_lose_no_update(
    http: httpx.AsyncClient, ann: SignedIn, database: Database
) -> None:
    account = await funded_account(http, ann, 0)
    outcomes = await at_once(http, ann, [Move("deposit", (account,), 25) for _ in range(REQUESTS)])
    assert tally(outcomes) == {OK: REQUESTS}
    await assert_holds(http, ann, database, account, REQUESTS * 25)
    assert (await ledger(database, account)).lines == REQUESTS


async def test_opposite_transfers_finish_without_deadlock_and_conserve_money(
    http: httpx.AsyncClient, ann: SignedIn, database: Database
) -> None:
    first = await funded_account(http, ann, START)
    second = await funded_account(http, ann, START)
    each_way = REQUESTS // 2
    moves = [
        request
        for _ in range(each_way)
        for request in (
            Move("transfer", (first, second), 30),
            Move("transfer", (second, first), 20),
        )
    ]
    outcomes = await at_once(http, ann, moves)
    assert tally(outcomes) == {OK: REQUESTS}
    await assert_holds(http, ann, database, first, START - each_way * 30 + each_way * 20)
    await assert_holds(http, ann, database, second, START + each_way * 30 - each_way * 20)


async def test_transfer_failing_between_legs_moves_nothing_and_can_be_retried(
    http: httpx.AsyncClient, ann: SignedIn, database: Database
) -> None:
    source = await funded_account(http, ann, START)
    target = await funded_account(http, ann, 500)
    out_legs_written: list[int] = []

    def fail_at_the_in_leg(_: Mapper[Any], connection: Connection, line: object) -> None:
        """Fail once the incoming leg is inserted, noting that the outgoing one is written."""
        assert isinstance(line, LedgerTransaction)
        if line.type != TransactionType.TRANSFER_IN.value:
            return
        out_leg = select(func.count()).where(
            LedgerTransaction.transfer_id == line.transfer_id,
            LedgerTransaction.type == TransactionType.TRANSFER_OUT.value,
        )
        out_legs_written.append(connection.execute(out_leg).scalar_one())
        raise RuntimeError("injected fault between the legs")

    request = Move("transfer", (source, target), 300)
    event.listen(LedgerTransaction, "after_insert", fail_at_the_in_leg)
    try:
        body = await gql(http, request.document(), request.variables(), token=ann.access_token)
    finally:
        event.remove(LedgerTransaction, "after_insert", fail_at_the_in_leg)
    assert out_legs_written == [1]
    assert not (body.get("data") or {}).get("transfer"), body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INTERNAL"
    for leak in ("Traceback", "Error(", "RuntimeError", "injected fault"):
        assert leak not in json.dumps(body)
    await assert_holds(http, ann, database, source, START)
    await assert_holds(http, ann, database, target, 500)
    transfer_lines = select(func.count()).where(LedgerTransaction.transfer_id.is_not(None))
    stored_keys = select(func.count()).where(IdempotencyRecord.key == request.key)
    assert await count(database, select(func.count()).select_from(Transfer)) == 0
    assert await count(database, transfer_lines) == 0
    assert await count(database, stored_keys) == 0
    assert [(await ledger(database, account)).lines for account in (source, target)] == [1, 1]

    retried, replayed = await submit(http, ann, request), await submit(http, ann, request)
    assert retried.code == OK, retried
    assert replayed == retried
    await assert_holds(http, ann, database, source, START - 300)
    await assert_holds(http, ann, database, target, 800)
    assert await count(database, select(func.count()).select_from(Transfer)) == 1


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_same_key_and_input_sent_at_once_moves_money_once(
    http: httpx.AsyncClient, ann: SignedIn, database: Database, operation: str
) -> None:
    first = await funded_account(http, ann, START)
    second = await funded_account(http, ann, 0)
    request = Move(operation, on(operation, first, second), 100)
    outcomes = await at_once(http, ann, [request] * 10)
    assert tally(outcomes) == {OK: 10}
    assert len({outcome.id for outcome in outcomes}) == 1
    changes = effect(request)
    await assert_holds(http, ann, database, first, START + changes[first])
    await assert_holds(http, ann, database, second, changes.get(second, 0))
    assert (await ledger(database, first)).lines == 2


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_same_key_with_different_input_is_refused_and_moves_nothing(
    http: httpx.AsyncClient, ann: SignedIn, database: Database, operation: str
) -> None:
    accounts = [await funded_account(http, ann, START) for _ in range(4)]
    request = Move(operation, on(operation, accounts[0], accounts[1]), 100)
    first = await submit(http, ann, request)
    assert first.code == OK, first
    before = await snapshot(database, accounts)
    other_amount = replace(request, amount=101)
    other_accounts = replace(request, accounts=on(operation, accounts[2], accounts[3]))
    for different in (other_amount, other_accounts):
        refused = await submit(http, ann, different)
        assert refused.code == REUSED, refused
    assert await submit(http, ann, request) == first
    assert await snapshot(database, accounts) == before


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_same_key_with_different_inputs_racing_lets_exactly_one_win(
    http: httpx.AsyncClient, ann: SignedIn, database: Database, operation: str
) -> None:
    accounts = [await funded_account(http, ann, START) for _ in range(4)]
    request = Move(operation, on(operation, accounts[0], accounts[1]), 100)
    variants = [
        request,
        replace(request, amount=101),
        replace(request, accounts=on(operation, accounts[2], accounts[3])),
    ]
    outcomes = await at_once(http, ann, [variant for _ in range(4) for variant in variants])
    by_variant: dict[Move, list[Outcome]] = {variant: [] for variant in variants}
    for index, outcome in enumerate(outcomes):
        by_variant[variants[index % len(variants)]].append(outcome)
    winners = [variant for variant, got in by_variant.items() if OK in tally(got)]
    assert len(winners) == 1, tally(outcomes)
    [winner] = winners
    for variant, got in by_variant.items():
        if variant == winner:
            assert {outcome.code for outcome in got} == {OK}
            assert len({outcome.id for outcome in got}) == 1
        else:
            assert {outcome.code for outcome in got} == {REUSED}
    await assert_moved_once(http, ann, database, accounts, winner)


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite writers never overlap this far
@pytest.mark.parametrize("operation", OPERATIONS)
async def test_rivals_both_past_the_key_check_are_settled_by_the_unique_key(
    http: httpx.AsyncClient,
    ann: SignedIn,
    database: Database,
    operation: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accounts = [await funded_account(http, ann, START) for _ in range(4)]
    request = Move(operation, on(operation, accounts[0], accounts[1]), 100)
    rival = replace(request, accounts=on(operation, accounts[2], accounts[3]))
    both_checked = asyncio.Event()
    checked = 0
    original = ledger_service._replay

    async def replay_then_meet(
        session: AsyncSession, keyed: ledger_service.KeyedRequest
    ) -> dict[str, Any] | None:
        """Hold each request that found its key unused until the other one found it too."""
        nonlocal checked
        found = await original(session, keyed)
        if found is None:
            checked += 1
            if checked == 2:
                both_checked.set()
            await asyncio.wait_for(both_checked.wait(), timeout=10)
        return found

    monkeypatch.setattr(ledger_service, "_replay", replay_then_meet)
    outcomes = await at_once(http, ann, [request, rival])
    assert checked == 2
    assert tally(outcomes) == {OK: 1, REUSED: 1}
    winner = request if outcomes[0].code == OK else rival
    await assert_moved_once(http, ann, database, accounts, winner)


async def test_idempotency_keys_are_per_user(
    http: httpx.AsyncClient, ann: SignedIn, database: Database
) -> None:
    bob = await signed_in(http, "bob")
    await create_holder(http, bob, "Bob")
    ann_account = await funded_account(http, ann, 0)
    bob_account = await funded_account(http, bob, 0)
    shared = key()
    ann_move = Move("deposit", (ann_account,), 100, shared)
    bob_move = Move("deposit", (bob_account,), 250, shared)
    ann_first, bob_first = await asyncio.gather(
        submit(http, ann, ann_move), submit(http, bob, bob_move)
    )
    assert ann_first.code == OK, ann_first
    assert bob_first.code == OK, bob_first
    assert ann_first.id != bob_first.id
    assert await submit(http, ann, ann_move) == ann_first
    assert await submit(http, bob, bob_move) == bob_first
    await assert_holds(http, ann, database, ann_account, 100)
    await assert_holds(http, bob, database, bob_account, 250)


async def test_idempotency_keys_are_kept_for_at_least_a_day(
    http: httpx.AsyncClient, ann: SignedIn, database: Database
) -> None:
    first = await funded_account(http, ann, 0)
    second = await funded_account(http, ann, 0)
    moves = [
        Move("deposit", (first,), 500),
        Move("withdraw", (first,), 100),
        Move("transfer", (first, second), 100),
    ]
    for request in moves:
        assert (await submit(http, ann, request)).code == OK
    mine = select(IdempotencyRecord).where(
        IdempotencyRecord.user_id == ann.user_id,
        IdempotencyRecord.key.in_([request.key for request in moves]),
    )
    async with database.unit_of_work() as uow, uow.read() as session:
        records = (await session.execute(mine)).scalars().all()
    assert {record.operation for record in records} == {"DEPOSIT", "WITHDRAWAL", "TRANSFER"}
    for record in records:
        assert record.expires_at - record.created_at >= timedelta(hours=24)


async def test_an_expired_idempotency_key_is_free_for_a_new_request(
    http: httpx.AsyncClient, ann: SignedIn, database: Database
) -> None:
    account = await funded_account(http, ann, 0)
    first = Move("deposit", (account,), 500)
    assert (await submit(http, ann, first)).code == OK
    reused = replace(first, amount=700)  # same key, another request
    assert (await submit(http, ann, reused)).code == "IDEMPOTENCY_KEY_REUSED"
    async with database.unit_of_work() as uow, uow.write() as session:
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.user_id == ann.user_id, IdempotencyRecord.key == first.key)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await submit(http, ann, reused)).code == OK
    assert (await submit(http, ann, reused)).code == OK  # now a replay of the new request
    await assert_holds(http, ann, database, account, 1_200)
