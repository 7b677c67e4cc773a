"""Banking rules over GraphQL: amounts, currencies, account states, transfers, immutable ledger
lines and holder profiles.

Every refusal is checked for its code and for changing nothing: balances, statuses, ledger
lines, transfers and idempotency records are compared before and after (`snapshot`).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from db.models import Account, AccountHolder, IdempotencyRecord, LedgerTransaction, Transfer
from db.session import Database
from tests.identity.test_users_queries import assert_top_level
from tests.support.audit import execute_raw
from tests.support.identity import SignedIn, gql, signed_in
from tests.support.money import (
    CREATE_HOLDER,
    ERRORS,
    MONEY,
    MOVEMENT,
    OPEN_ACCOUNT,
    TRANSFER,
    balance,
    codes,
    create_holder,
    key,
    move,
    ok,
    open_account,
    transfer,
)

MALFORMED_AMOUNTS: list[Any] = [1.5, 2**53, -(2**53), "12"]
DEPOSIT = MOVEMENT.format(name="deposit", money=MONEY, account="id", errors=ERRORS)
STATUS_CHANGE = """
mutation($input: AccountIdInput!) {{
  {name}(input: $input) {{ account {{ id status }} errors {{ code message field }} }}
}}
"""


async def snapshot(database: Database) -> dict[str, Any]:
    """Every account (balance, status, entries) and ledger line (all it says), and how many
    transfers, idempotency records and holders exist."""
    async with database.unit_of_work() as uow, uow.read() as session:
        accounts = (await session.execute(select(Account).order_by(Account.id))).scalars()
        lines = await session.execute(select(LedgerTransaction).order_by(LedgerTransaction.id))
        state: dict[str, Any] = {
            "accounts": [(row.id, row.balance, row.status, row.entries) for row in accounts],
            "lines": [
                (row.id, row.account_id, row.entry, row.type, row.amount, row.balance_after,
                 row.description, row.created_at, row.deleted_at)
                for row in lines.scalars()
            ],
        }  # fmt: skip
        for model in (Transfer, IdempotencyRecord, AccountHolder):
            counted = await session.execute(select(func.count()).select_from(model))
            state[model.__name__] = counted.scalar_one()
        return state


async def key_recorded(database: Database, idempotency_key: str) -> bool:
    """Whether an idempotency record exists for the key."""
    async with database.unit_of_work() as uow, uow.read() as session:
        statement = select(IdempotencyRecord).where(IdempotencyRecord.key == idempotency_key)
        return (await session.execute(statement)).first() is not None


async def customer(client: httpx.AsyncClient, name: str = "ann") -> SignedIn:
    """A signed-in user with a holder profile."""
    user = await signed_in(client, name)
    await create_holder(client, user)
    return user


async def funded(
    client: httpx.AsyncClient, user: SignedIn, amount: int, currency: str = "USD"
) -> str:
    """A new account of the user holding `amount`."""
    account = await open_account(client, user, currency)
    if amount:
        assert (await move(client, user, "deposit", account, amount))["errors"] == []
    return account


def fields_of(payload: dict[str, Any]) -> list[tuple[str, list[str] | None]]:
    """The (code, field) pairs of a mutation payload's errors."""
    return [(error["code"], error["field"]) for error in payload["errors"]]


async def change_status(
    client: httpx.AsyncClient, user: SignedIn, name: str, account_id: str
) -> dict[str, Any]:
    """Run freezeAccount, unfreezeAccount or closeAccount; returns its payload."""
    data = await ok(
        client, STATUS_CHANGE.format(name=name), {"input": {"accountId": account_id}}, user
    )
    payload: dict[str, Any] = data[name]
    return payload


async def every_movement(
    client: httpx.AsyncClient, user: SignedIn, account: str, other: str, amount: int
) -> list[dict[str, Any]]:
    """Deposit to, withdraw from, transfer from and transfer to `account`; returns the payloads."""
    return [
        await move(client, user, "deposit", account, amount),
        await move(client, user, "withdraw", account, amount),
        await transfer(client, user, account, other, amount),
        await transfer(client, user, other, account, amount),
    ]


# --- amounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -1, -(2**53 - 1)])
async def test_zero_and_negative_amounts_are_refused_in_the_payload(
    client: httpx.AsyncClient, database: Database, amount: int
) -> None:
    ann = await customer(client)
    account, other = await funded(client, ann, 500), await funded(client, ann, 500)
    before = await snapshot(database)
    idempotency_key = key()
    payloads = [
        await move(client, ann, "deposit", account, amount, idempotency_key=idempotency_key),
        await move(client, ann, "withdraw", account, amount, idempotency_key=idempotency_key),
        await transfer(client, ann, account, other, amount, idempotency_key=idempotency_key),
    ]
    for payload in payloads:
        assert fields_of(payload) == [("VALIDATION_FAILED", ["input", "amount"])]
        assert all(value is None for name, value in payload.items() if name != "errors")
    assert await snapshot(database) == before
    assert not await key_recorded(database, idempotency_key)


@pytest.mark.parametrize("amount", MALFORMED_AMOUNTS, ids=repr)
async def test_malformed_amount_variables_are_top_level_validation_errors(
    client: httpx.AsyncClient, database: Database, amount: Any
) -> None:
    ann = await customer(client)
    account, other = await funded(client, ann, 500), await funded(client, ann, 500)
    before = await snapshot(database)
    idempotency_key = key()
    movement = {"accountId": account, "amount": amount, "idempotencyKey": idempotency_key}
    moved = {"fromAccountId": account, "toAccountId": other, "amount": amount,
             "idempotencyKey": idempotency_key}  # fmt: skip
    for query, variables in [
        (DEPOSIT, movement),
        (MOVEMENT.format(name="withdraw", money=MONEY, account="id", errors=ERRORS), movement),
        (TRANSFER, moved),
    ]:
        body = await gql(client, query, {"input": variables}, token=ann.access_token)
        assert_top_level(body, "VALIDATION_FAILED", 422)
        assert body.get("data") is None
    assert await snapshot(database) == before
    assert not await key_recorded(database, idempotency_key)


async def test_a_fractional_amount_literal_is_a_top_level_validation_error(
    client: httpx.AsyncClient, database: Database
) -> None:
    ann = await customer(client)
    account = await funded(client, ann, 500)
    before = await snapshot(database)
    document = (
        f'mutation {{ deposit(input: {{accountId: "{account}", amount: 1.5, '
        f'idempotencyKey: "literal-key"}}) {{ {ERRORS} }} }}'
    )
    body = await gql(client, document, token=ann.access_token)
    assert_top_level(body, "VALIDATION_FAILED", 422)
    assert body.get("data") is None
    assert await snapshot(database) == before
    assert not await key_recorded(database, "literal-key")


# --- currencies -------------------------------------------------------------------------------


@pytest.mark.parametrize("currency", ["usd", "ZZZ", "XAU", "XXX", "US", "USDX", ""])
async def test_accounts_need_an_iso_4217_currency_with_minor_units(
    client: httpx.AsyncClient, database: Database, currency: str
) -> None:
    ann = await customer(client)
    before = await snapshot(database)
    data = await ok(
        client, OPEN_ACCOUNT, {"input": {"type": "CHECKING", "currency": currency}}, ann
    )
    payload = data["openAccount"]
    assert payload["account"] is None
    assert fields_of(payload) == [("VALIDATION_FAILED", ["input", "currency"])]
    assert await snapshot(database) == before


@pytest.mark.parametrize(
    ("currency", "empty", "formatted"),
    [("USD", "0.00", "12.34"), ("JPY", "0", "1234"), ("KWD", "0.000", "1.234")],
)
async def test_money_is_formatted_with_the_currency_exponent(
    client: httpx.AsyncClient, currency: str, empty: str, formatted: str
) -> None:
    ann = await customer(client)
    data = await ok(client, OPEN_ACCOUNT, {"input": {"type": "SAVINGS", "currency": currency}}, ann)
    account = data["openAccount"]["account"]
    assert (account["currency"], account["balance"]) == (
        currency, {"amount": 0, "currency": currency, "formatted": empty},
    )  # fmt: skip
    payload = await move(client, ann, "deposit", account["id"], 1234)
    expected = {"amount": 1234, "currency": currency, "formatted": formatted}
    assert payload["transaction"]["amount"] == payload["transaction"]["balanceAfter"] == expected
    assert payload["account"]["balance"] == expected


# --- account states ---------------------------------------------------------------------------


async def test_a_frozen_account_moves_no_money_until_unfrozen(
    client: httpx.AsyncClient, database: Database
) -> None:
    ann = await customer(client)
    account, other = await funded(client, ann, 1_000), await funded(client, ann, 1_000)
    frozen = await change_status(client, ann, "freezeAccount", account)
    assert (frozen["errors"], frozen["account"]["status"]) == ([], "FROZEN")
    before = await snapshot(database)

    for payload in await every_movement(client, ann, account, other, 100):
        assert codes(payload) == ["ACCOUNT_NOT_ACTIVE"]
    assert await snapshot(database) == before
    assert codes(await change_status(client, ann, "freezeAccount", account)) == ["CONFLICT"]

    assert (await change_status(client, ann, "unfreezeAccount", account))["errors"] == []
    for payload in await every_movement(client, ann, account, other, 100):
        assert payload["errors"] == []
    assert await balance(client, ann, account) == 1_000
    assert await balance(client, ann, other) == 1_000


async def test_closing_needs_a_zero_balance_and_is_final(
    client: httpx.AsyncClient, database: Database
) -> None:
    ann = await customer(client)
    account, other = await funded(client, ann, 700), await funded(client, ann, 1_000)
    refused = await change_status(client, ann, "closeAccount", account)
    assert fields_of(refused) == [("VALIDATION_FAILED", ["input", "accountId"])]
    assert refused["account"] is None
    assert (await transfer(client, ann, account, other, 700))["errors"] == []
    closed = await change_status(client, ann, "closeAccount", account)
    assert (closed["errors"], closed["account"]["status"]) == ([], "CLOSED")
    before = await snapshot(database)

    for payload in await every_movement(client, ann, account, other, 100):
        assert codes(payload) == ["ACCOUNT_NOT_ACTIVE"]
    for name in ("unfreezeAccount", "freezeAccount", "closeAccount"):
        assert codes(await change_status(client, ann, name, account)) == ["CONFLICT"]
    assert await snapshot(database) == before


async def test_a_frozen_account_with_a_zero_balance_can_be_closed(
    client: httpx.AsyncClient,
) -> None:
    ann = await customer(client)
    account = await open_account(client, ann)
    assert (await change_status(client, ann, "freezeAccount", account))["errors"] == []
    closed = await change_status(client, ann, "closeAccount", account)
    assert (closed["errors"], closed["account"]["status"]) == ([], "CLOSED")


# --- transfers --------------------------------------------------------------------------------


async def test_a_transfer_needs_two_accounts_in_one_currency(
    client: httpx.AsyncClient, database: Database
) -> None:
    ann = await customer(client)
    dollars, yen = await funded(client, ann, 1_000), await funded(client, ann, 1_000, "JPY")
    empty = await open_account(client, ann)
    before = await snapshot(database)
    to_itself = await transfer(client, ann, dollars, dollars, 100)
    assert fields_of(to_itself) == [("VALIDATION_FAILED", ["input", "toAccountId"])]
    for source, target in [(dollars, yen), (yen, dollars)]:
        refused = await transfer(client, ann, source, target, 100)
        assert codes(refused) == ["CURRENCY_MISMATCH"]
        assert (refused["transfer"], refused["fromAccount"], refused["toAccount"]) == (None,) * 3
    assert codes(await transfer(client, ann, empty, dollars, 1)) == ["INSUFFICIENT_FUNDS"]
    assert codes(await transfer(client, ann, dollars, empty, 1_001)) == ["INSUFFICIENT_FUNDS"]
    assert await snapshot(database) == before


# --- immutable ledger lines -------------------------------------------------------------------


async def test_the_database_refuses_to_update_or_delete_posted_transactions(
    client: httpx.AsyncClient, database: Database
) -> None:
    ann = await customer(client)
    await funded(client, ann, 1_000)
    before = await snapshot(database)
    for statement in [
        "UPDATE transactions SET amount = amount + 1",
        "UPDATE transactions SET description = 'edited' WHERE entry = 1",
        "DELETE FROM transactions WHERE entry = 1",
        "DELETE FROM transactions",
    ]:
        with pytest.raises(DBAPIError, match="not allowed"):
            await execute_raw(database, statement)
    assert await snapshot(database) == before


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_postgresql_refuses_to_truncate_transactions(
    client: httpx.AsyncClient, database: Database
) -> None:
    ann = await customer(client)
    await funded(client, ann, 1_000)
    before = await snapshot(database)
    with pytest.raises(DBAPIError, match="not allowed"):
        await execute_raw(database, "TRUNCATE transactions CASCADE")
    assert await snapshot(database) == before


# --- holder profiles --------------------------------------------------------------------------


def holder_input(
    first: str = "Ada", last: str = "Lovelace", born: str = "1990-12-10"
) -> dict[str, Any]:
    """The variables of createAccountHolder."""
    return {"input": {"firstName": first, "lastName": last, "dateOfBirth": born}}


async def test_a_user_has_one_holder_profile(client: httpx.AsyncClient, database: Database) -> None:
    ann = await customer(client)
    before = await snapshot(database)
    data = await ok(client, CREATE_HOLDER, holder_input("Second"), ann)
    assert codes(data["createAccountHolder"]) == ["CONFLICT"]
    assert data["createAccountHolder"]["accountHolder"] is None
    assert await snapshot(database) == before


@pytest.mark.parametrize(
    ("variables", "fields"),
    [
        (holder_input(first=""), [["input", "firstName"]]),
        (holder_input(last="   "), [["input", "lastName"]]),
        (holder_input(first="x" * 101), [["input", "firstName"]]),
        (holder_input(born="2999-01-01"), [["input", "dateOfBirth"]]),
        (holder_input(born="1800-01-01"), [["input", "dateOfBirth"]]),
        (holder_input(first="", last="", born="2999-01-01"),
         [["input", "firstName"], ["input", "lastName"], ["input", "dateOfBirth"]]),
    ],
)  # fmt: skip
async def test_holder_names_and_date_of_birth_are_validated(
    client: httpx.AsyncClient,
    database: Database,
    variables: dict[str, Any],
    fields: list[list[str]],
) -> None:
    ann = await signed_in(client, "ann")
    before = await snapshot(database)
    payload = (await ok(client, CREATE_HOLDER, variables, ann))["createAccountHolder"]
    assert payload["accountHolder"] is None
    assert fields_of(payload) == [("VALIDATION_FAILED", field) for field in fields]
    assert await snapshot(database) == before


async def test_opening_an_account_needs_a_holder_profile(
    client: httpx.AsyncClient, database: Database
) -> None:
    ann = await signed_in(client, "ann")
    before = await snapshot(database)
    data = await ok(client, OPEN_ACCOUNT, {"input": {"type": "CHECKING", "currency": "USD"}}, ann)
    assert codes(data["openAccount"]) == ["NOT_FOUND"]
    assert data["openAccount"]["account"] is None
    assert await snapshot(database) == before
