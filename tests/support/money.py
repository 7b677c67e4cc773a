"""Helpers for accounts and ledger tests: holders, accounts and money movements over GraphQL."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from db.unit_of_work import UnitOfWork
from tests.support.identity import SignedIn, gql, signed_in

ResultT = TypeVar("ResultT")

MONEY = "amount currency formatted"
ACCOUNT_FIELDS = f"id type currency status balance {{ {MONEY} }}"
ERRORS = "errors { code message field }"

CREATE_HOLDER = f"""
mutation($input: CreateAccountHolderInput!) {{
  createAccountHolder(input: $input) {{ accountHolder {{ id firstName lastName }} {ERRORS} }}
}}
"""
OPEN_ACCOUNT = f"""
mutation($input: OpenAccountInput!) {{
  openAccount(input: $input) {{ account {{ {ACCOUNT_FIELDS} }} {ERRORS} }}
}}
"""
MOVEMENT = """
mutation($input: MoneyMovementInput!) {{
  {name}(input: $input) {{
    transaction {{ id type amount {{ {money} }} balanceAfter {{ {money} }} }}
    account {{ {account} }}
    {errors}
  }}
}}
"""
TRANSFER = f"""
mutation($input: TransferInput!) {{
  transfer(input: $input) {{
    transfer {{ id amount {{ {MONEY} }} fromAccount {{ id }} toAccount {{ id }} }}
    fromAccount {{ {ACCOUNT_FIELDS} }}
    toAccount {{ {ACCOUNT_FIELDS} }}
    {ERRORS}
  }}
}}
"""
ACCOUNT = f"query($id: ID!) {{ account(id: $id) {{ {ACCOUNT_FIELDS} }} }}"


def key() -> str:
    """A fresh idempotency key."""
    return str(uuid.uuid4())


async def ok(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], user: SignedIn
) -> dict[str, Any]:
    """Run an operation that must succeed; returns `data`."""
    body = await gql(client, query, variables, token=user.access_token)
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def create_holder(client: httpx.AsyncClient, user: SignedIn, first: str = "Ada") -> str:
    """Create the user's holder profile; returns its id."""
    data = await ok(
        client, CREATE_HOLDER,
        {"input": {"firstName": first, "lastName": "Lovelace", "dateOfBirth": "1990-12-10"}},
        user,
    )  # fmt: skip
    payload = data["createAccountHolder"]
    assert payload["errors"] == [], payload
    holder_id: str = payload["accountHolder"]["id"]
    return holder_id


async def open_account(
    client: httpx.AsyncClient, user: SignedIn, currency: str = "USD", kind: str = "CHECKING"
) -> str:
    """Open an account for a user who has a holder profile; returns its id."""
    data = await ok(client, OPEN_ACCOUNT, {"input": {"type": kind, "currency": currency}}, user)
    payload = data["openAccount"]
    assert payload["errors"] == [], payload
    account_id: str = payload["account"]["id"]
    return account_id


async def customer(
    client: httpx.AsyncClient, name: str = "ann", currency: str = "USD"
) -> tuple[SignedIn, str]:
    """A signed-in user with a holder profile and one open account; the user and its id."""
    user = await signed_in(client, name)
    await create_holder(client, user)
    return user, await open_account(client, user, currency)


async def move(
    client: httpx.AsyncClient,
    user: SignedIn,
    name: str,
    account_id: str,
    amount: int,
    *,
    idempotency_key: str | None = None,
    description: str = "",
) -> dict[str, Any]:
    """Run `deposit` or `withdraw`; returns its payload."""
    query = MOVEMENT.format(name=name, money=MONEY, account=ACCOUNT_FIELDS, errors=ERRORS)
    variables = {
        "input": {
            "accountId": account_id, "amount": amount,
            "idempotencyKey": idempotency_key or key(), "description": description,
        }
    }  # fmt: skip
    data = await ok(client, query, variables, user)
    payload: dict[str, Any] = data[name]
    return payload


async def transfer(
    client: httpx.AsyncClient,
    user: SignedIn,
    source: str,
    target: str,
    amount: int,
    *,
    idempotency_key: str | None = None,
    description: str = "",
) -> dict[str, Any]:
    """Run `transfer`; returns its payload."""
    variables = {
        "input": {
            "fromAccountId": source, "toAccountId": target, "amount": amount,
            "idempotencyKey": idempotency_key or key(), "description": description,
        }
    }  # fmt: skip
    data = await ok(client, TRANSFER, variables, user)
    payload: dict[str, Any] = data["transfer"]
    return payload


async def balance(client: httpx.AsyncClient, user: SignedIn, account_id: str) -> int:
    """An account's balance in minor units."""
    data = await ok(client, ACCOUNT, {"id": account_id}, user)
    amount: int = data["account"]["balance"]["amount"]
    return amount


def codes(payload: dict[str, Any]) -> list[str]:
    """The error codes of a mutation payload."""
    return [error["code"] for error in payload["errors"]]


async def in_transaction(
    uow: UnitOfWork, service: Callable[..., Awaitable[ResultT]], *args: Any, **kwargs: Any
) -> ResultT:
    """Run one service call in a write transaction of its own, as a mutation would."""
    async with uow.write() as transaction:
        return await service(transaction, *args, **kwargs)
