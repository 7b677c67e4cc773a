"""Many money movements at once over real HTTP, and ledger checks: for tests and bench scripts.

`submit` never asserts: it reports each request's outcome as a code (`OK`, a payload error code
or a top-level error code), so a caller can count outcomes or assert on them.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select

from db.models import Account, LedgerTransaction, TransactionType
from db.session import Database
from tests.support.identity import SignedIn, gql
from tests.support.money import (
    ACCOUNT_FIELDS,
    ERRORS,
    MONEY,
    MOVEMENT,
    TRANSFER,
    key,
    move,
    open_account,
)

OK = "OK"
OPERATIONS = ("deposit", "withdraw", "transfer")
CREDITS = frozenset({TransactionType.DEPOSIT.value, TransactionType.TRANSFER_IN.value})
LEDGER = """
query($id: ID!) {
  account(id: $id) {
    transactions(first: 100) { pageInfo { hasNextPage } edges { node { type amount { amount } } } }
  }
}
"""


@dataclass(frozen=True, slots=True)
class Move:
    """A deposit or withdrawal on `accounts[0]`, or a transfer `accounts[0]` -> `accounts[1]`."""

    operation: str
    accounts: tuple[str, ...]
    amount: int
    key: str = field(default_factory=key)

    def document(self) -> str:
        """The GraphQL mutation that performs this move."""
        if self.operation == "transfer":
            return TRANSFER
        return MOVEMENT.format(
            name=self.operation, money=MONEY, account=ACCOUNT_FIELDS, errors=ERRORS
        )

    def variables(self) -> dict[str, Any]:
        """The mutation's `input`."""
        common = {"amount": self.amount, "idempotencyKey": self.key}
        if self.operation == "transfer":
            source, target = self.accounts
            return {"input": {"fromAccountId": source, "toAccountId": target, **common}}
        return {"input": {"accountId": self.accounts[0], **common}}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one request got: `OK` with the transaction or transfer id, or an error code."""

    code: str
    id: str | None = None
    message: str = ""


def outcome_of(operation: str, body: dict[str, Any]) -> Outcome:
    """Classify a response body: a top-level error, a payload error, or success."""
    if body.get("errors"):
        error = body["errors"][0]
        return Outcome(error.get("extensions", {}).get("code", "UNKNOWN"), None, error["message"])
    payload = body["data"][operation]
    if payload["errors"]:
        error = payload["errors"][0]
        return Outcome(error["code"], None, error["message"])
    moved = payload["transfer"] if operation == "transfer" else payload["transaction"]
    return Outcome(OK, moved["id"])


async def submit(http: httpx.AsyncClient, user: SignedIn, request: Move) -> Outcome:
    """Send one move; transport failures and non-JSON replies become codes too."""
    try:
        body = await gql(http, request.document(), request.variables(), token=user.access_token)
    except httpx.HTTPError as error:
        return Outcome(f"TRANSPORT:{type(error).__name__}")
    except ValueError:
        return Outcome("NON_JSON_REPLY")
    return outcome_of(request.operation, body)


async def at_once(http: httpx.AsyncClient, user: SignedIn, moves: Iterable[Move]) -> list[Outcome]:
    """Fire every move concurrently and wait for all of them, in order."""
    return list(await asyncio.gather(*(submit(http, user, request) for request in moves)))


def tally(outcomes: Iterable[Outcome]) -> Counter[str]:
    """How many outcomes had each code."""
    return Counter(outcome.code for outcome in outcomes)


@asynccontextmanager
async def load_client(address: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client to `host:port` that opens as many connections as requests in flight."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(
        base_url=f"http://{address}", limits=limits, timeout=httpx.Timeout(60.0)
    ) as http:
        yield http


async def funded_account(http: httpx.AsyncClient, user: SignedIn, amount: int) -> str:
    """Open an account for a user with a holder profile and deposit `amount` into it."""
    account = await open_account(http, user)
    if amount:
        payload = await move(http, user, "deposit", account, amount)
        assert payload["errors"] == [], payload
    return account


def account_uuid(global_id: str) -> uuid.UUID:
    """The UUID inside an `Account:<uuid>` global id."""
    type_name, _, raw = base64.b64decode(global_id).decode().partition(":")
    assert type_name == "Account", global_id
    return uuid.UUID(raw)


@dataclass(frozen=True, slots=True)
class Ledger:
    """An account's stored balance against its ledger lines, read straight from the database."""

    balance: int
    net: int
    lines: int
    chained: bool
    """Entries are numbered 1..n and each balance_after follows from the one before, never < 0."""

    @property
    def consistent(self) -> bool:
        """The balance is the sum of the lines, and the lines form an unbroken chain."""
        return self.chained and self.balance == self.net


async def ledger(database: Database, account_id: str) -> Ledger:
    """Read an account's balance and every ledger line of it directly through SQL."""
    raw_id = account_uuid(account_id)
    async with database.unit_of_work() as uow, uow.read() as session:
        balance = (
            await session.execute(select(Account.balance).where(Account.id == raw_id))
        ).scalar_one()
        rows = (
            await session.execute(
                select(
                    LedgerTransaction.entry,
                    LedgerTransaction.type,
                    LedgerTransaction.amount,
                    LedgerTransaction.balance_after,
                )
                .where(LedgerTransaction.account_id == raw_id)
                .order_by(LedgerTransaction.entry)
            )
        ).all()
    running, chained = 0, True
    for expected_entry, (entry, kind, amount, balance_after) in enumerate(rows, start=1):
        running += amount if kind in CREDITS else -amount
        chained &= entry == expected_entry and balance_after == running and running >= 0
    return Ledger(balance=int(balance), net=running, lines=len(rows), chained=chained)


async def ledger_net_via_graphql(http: httpx.AsyncClient, user: SignedIn, account_id: str) -> int:
    """The signed sum of an account's transactions as `account.transactions` lists them."""
    body = await gql(http, LEDGER, {"id": account_id}, token=user.access_token)
    assert "errors" not in body, body
    connection = body["data"]["account"]["transactions"]
    assert not connection["pageInfo"]["hasNextPage"], "more than 100 transactions"
    nodes = [edge["node"] for edge in connection["edges"]]
    return sum(node["amount"]["amount"] * (1 if node["type"] in CREDITS else -1) for node in nodes)
