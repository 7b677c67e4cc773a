"""The balance limit: no balance passes 2^53 - 1 minor units, the largest `Long`.

A credit that would pass it is refused up front with BALANCE_LIMIT_EXCEEDED and changes
nothing; the database CHECKs (migration 0006) refuse it too, and if one of them ever catches a
movement the service let through, the client still gets the same clear code.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.exc import DBAPIError

from db.base import utcnow
from db.models import LedgerTransaction
from db.money import MAX_BALANCE
from db.services import ledger as ledger_service
from db.session import Database
from tests.ledger.test_rules import customer, fields_of, funded, key_recorded, snapshot
from tests.support.audit import execute_raw, last_sequence, rows_after
from tests.support.money import balance, key, move, transfer

REFUSED = [("BALANCE_LIMIT_EXCEEDED", ["input", "amount"])]


async def test_a_deposit_past_the_limit_is_refused_and_the_balance_stays_readable(
    client: httpx.AsyncClient, database: Database
) -> None:
    ann = await customer(client)
    account = await funded(client, ann, MAX_BALANCE)
    before, sequence = await snapshot(database), await last_sequence(database)
    idempotency_key = key()
    payload = await move(
        client, ann, "deposit", account, MAX_BALANCE, idempotency_key=idempotency_key
    )
    assert fields_of(payload) == REFUSED
    assert "at most 0 more" in payload["errors"][0]["message"]
    assert (payload["transaction"], payload["account"]) == (None, None)
    assert await snapshot(database) == before
    assert not await key_recorded(database, idempotency_key)
    assert not [row for row in await rows_after(database, sequence) if row["action"] == "CREATE"]
    assert await balance(client, ann, account) == MAX_BALANCE
    # The refused key is still free: once there is room, it moves money.
    assert (await move(client, ann, "withdraw", account, 5))["errors"] == []
    payload = await move(client, ann, "deposit", account, 5, idempotency_key=idempotency_key)
    assert payload["errors"] == []
    assert payload["account"]["balance"]["amount"] == MAX_BALANCE
    assert await balance(client, ann, account) == MAX_BALANCE


async def test_a_transfer_into_an_account_near_the_limit_moves_only_what_fits(
    client: httpx.AsyncClient, database: Database
) -> None:
    ann = await customer(client)
    source, target = await funded(client, ann, 100), await funded(client, ann, MAX_BALANCE - 10)
    before, sequence = await snapshot(database), await last_sequence(database)
    idempotency_key = key()
    payload = await transfer(client, ann, source, target, 11, idempotency_key=idempotency_key)
    assert fields_of(payload) == REFUSED
    assert "at most 10 more" in payload["errors"][0]["message"]
    assert await snapshot(database) == before
    assert not await key_recorded(database, idempotency_key)
    assert not [row for row in await rows_after(database, sequence) if row["action"] == "CREATE"]
    payload = await transfer(client, ann, source, target, 10, idempotency_key=idempotency_key)
    assert payload["errors"] == []
    assert payload["toAccount"]["balance"]["amount"] == MAX_BALANCE
    assert (await balance(client, ann, source), await balance(client, ann, target)) == (
        90,
        MAX_BALANCE,
    )


async def test_the_database_refuses_a_balance_past_the_limit(
    client: httpx.AsyncClient, database: Database
) -> None:
    ann = await customer(client)
    account = await funded(client, ann, MAX_BALANCE)
    before = await snapshot(database)
    with pytest.raises(DBAPIError, match="ck_accounts_balance_within_limit"):
        await execute_raw(database, "UPDATE accounts SET balance = balance + 1")
    stray = LedgerTransaction(
        id=uuid.uuid4(), account_id=before["accounts"][0][0], entry=2,
        type="DEPOSIT", amount=1, currency="USD", balance_after=MAX_BALANCE + 1,
        description="stray", created_at=utcnow(),
    )  # fmt: skip
    with pytest.raises(DBAPIError, match="ck_transactions_balance_after_within_limit"):
        async with database.unit_of_work() as uow, uow.write() as session:
            session.add(stray)
    assert await snapshot(database) == before
    assert await balance(client, ann, account) == MAX_BALANCE


@pytest.mark.parametrize("movement", ["deposit", "transfer"])
async def test_a_limit_the_database_catches_is_still_balance_limit_exceeded(
    client: httpx.AsyncClient,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    movement: str,
) -> None:
    ann = await customer(client)
    full, source = await funded(client, ann, MAX_BALANCE), await funded(client, ann, 100)
    monkeypatch.setattr(ledger_service, "_check_room", lambda account, amount: None)
    before = await snapshot(database)
    idempotency_key = key()
    if movement == "deposit":
        payload = await move(client, ann, "deposit", full, 1, idempotency_key=idempotency_key)
    else:
        payload = await transfer(client, ann, source, full, 1, idempotency_key=idempotency_key)
    assert fields_of(payload) == REFUSED
    assert await snapshot(database) == before
    assert not await key_recorded(database, idempotency_key)
    assert await balance(client, ann, full) == MAX_BALANCE
