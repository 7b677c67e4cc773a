"""The demo flow over real HTTP: sign up, open accounts, move money, read a statement.

A real uvicorn server runs the app on a loopback port; the client talks to it like any outside
client would. The audit trail is then read behind the application's back.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from db.session import Database
from tests.support.audit import audit_rows
from tests.support.identity import STRONG_PASSWORD, SignedIn, login, register, user_uuid
from tests.support.money import create_holder, move, ok, open_account, transfer
from tests.support.server import live_server

STATEMENT = """
query($id: ID!, $from: Date!, $to: Date!) {
  statement(accountId: $id, from: $from, to: $to) {
    account { id }
    from to
    openingBalance { amount currency formatted }
    totalCredits { amount }
    totalDebits { amount }
    closingBalance { amount currency formatted }
    transactions { totalCount edges { node { type amount { amount } balanceAfter { amount }
                                             transfer { id } } } }
  }
}
"""
MY_ACCOUNTS = """
query { me { username accounts { totalCount edges { node {
  id type currency status balance { amount formatted }
} } } } }
"""


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app served by a real uvicorn server on a loopback port."""
    async with (
        live_server(app) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as client,
    ):
        yield client


async def sign_up(http: httpx.AsyncClient) -> SignedIn:
    """Register and log in over HTTP, checking the tokens that come back."""
    registered = await register(http, "demo", full_name="Demo User")
    assert registered["errors"] == [], registered
    body = await login(http, "demo", STRONG_PASSWORD)
    assert "errors" not in body, body
    tokens = body["data"]["login"]
    assert tokens["tokenType"] == "Bearer"
    assert tokens["accessToken"]
    assert tokens["refreshToken"]
    assert tokens["user"] == {"id": registered["user"]["id"], "username": "demo"}
    return SignedIn(
        user_id=user_uuid(registered["user"]["id"]), global_id=registered["user"]["id"],
        username="demo", email="demo@example.com", password=STRONG_PASSWORD,
        access_token=tokens["accessToken"], refresh_token=tokens["refreshToken"],
    )  # fmt: skip


def row_id(global_id: str) -> str:
    """The row id (as stored in audit rows) inside an opaque global id."""
    return str(uuid.UUID(base64.b64decode(global_id).decode().partition(":")[2]))


def balance_changes(rows: list[dict[str, Any]], account_id: str) -> list[tuple[int, int]]:
    """(old, new) balance of each Account UPDATE row of one account, in order."""
    return [
        (row["old_values"]["balance"], row["new_values"]["balance"])
        for row in rows
        if (row["entity_type"], row["entity_id"], row["action"])
        == ("Account", account_id, "UPDATE")
        and "balance" in (row["new_values"] or {})
    ]


async def test_demo_flow_from_sign_up_to_statement(
    http: httpx.AsyncClient, database: Database
) -> None:
    first_day = datetime.now(UTC).date()
    demo = await sign_up(http)
    holder = await create_holder(http, demo, "Demo")
    checking = await open_account(http, demo, "USD", "CHECKING")
    savings = await open_account(http, demo, "USD", "SAVINGS")

    deposited = await move(http, demo, "deposit", checking, 100_000, description="salary")
    assert deposited["errors"] == [], deposited
    assert deposited["account"]["balance"]["amount"] == 100_000
    moved = await transfer(http, demo, checking, savings, 25_000, description="save")
    assert moved["errors"] == [], moved
    assert moved["fromAccount"]["balance"]["amount"] == 75_000
    assert moved["toAccount"]["balance"]["amount"] == 25_000
    withdrawn = await move(http, demo, "withdraw", checking, 5_000, description="cash")
    assert withdrawn["errors"] == [], withdrawn
    assert withdrawn["transaction"]["balanceAfter"]["amount"] == 70_000
    last_day = datetime.now(UTC).date()  # the flow ran between these UTC days (normally one)

    data = await ok(
        http, STATEMENT,
        {"id": checking, "from": first_day.isoformat(), "to": last_day.isoformat()}, demo,
    )  # fmt: skip
    statement = data["statement"]
    assert statement["account"] == {"id": checking}
    assert statement["openingBalance"] == {"amount": 0, "currency": "USD", "formatted": "0.00"}
    assert statement["totalCredits"] == {"amount": 100_000}
    assert statement["totalDebits"] == {"amount": 30_000}
    assert statement["closingBalance"] == {
        "amount": 70_000, "currency": "USD", "formatted": "700.00"
    }  # fmt: skip
    lines = [edge["node"] for edge in statement["transactions"]["edges"]]
    assert statement["transactions"]["totalCount"] == 3
    assert [(line["type"], line["amount"]["amount"], line["balanceAfter"]["amount"])
            for line in lines] == [
        ("WITHDRAWAL", 5_000, 70_000), ("TRANSFER_OUT", 25_000, 75_000),
        ("DEPOSIT", 100_000, 100_000),
    ]  # fmt: skip
    assert lines[1]["transfer"] == {"id": moved["transfer"]["id"]}

    mine = (await ok(http, MY_ACCOUNTS, {}, demo))["me"]
    assert mine["username"] == "demo"
    assert mine["accounts"]["totalCount"] == 2
    assert [edge["node"] for edge in mine["accounts"]["edges"]] == [
        {"id": checking, "type": "CHECKING", "currency": "USD", "status": "ACTIVE",
         "balance": {"amount": 70_000, "formatted": "700.00"}},
        {"id": savings, "type": "SAVINGS", "currency": "USD", "status": "ACTIVE",
         "balance": {"amount": 25_000, "formatted": "250.00"}},
    ]  # fmt: skip

    rows = await audit_rows(database)
    banking = [
        row for row in rows if row["entity_type"] in {"AccountHolder", "Account", "Transfer"}
    ]
    assert banking, "the flow left an audit trail"
    assert {row["user_id"] for row in banking} == {demo.user_id}
    created = {
        (row["entity_type"], row["entity_id"]) for row in banking if row["action"] == "CREATE"
    }
    assert {
        ("AccountHolder", row_id(holder)), ("Account", row_id(checking)),
        ("Account", row_id(savings)), ("Transfer", row_id(moved["transfer"]["id"])),
    } <= created  # fmt: skip
    assert balance_changes(banking, row_id(checking)) == [
        (0, 100_000), (100_000, 75_000), (75_000, 70_000)
    ]  # fmt: skip
    assert balance_changes(banking, row_id(savings)) == [(0, 25_000)]
    [transfer_row] = [row for row in banking if row["entity_type"] == "Transfer"]
    assert transfer_row["new_values"]["amount"] == 25_000
    assert transfer_row["new_values"]["from_account_id"] == row_id(checking)
    assert transfer_row["new_values"]["to_account_id"] == row_id(savings)
