"""Cards: the full number exists only in the issue response; status rules; limits; audited reads.

The "never stored" checks read every row of every mapped table behind the application's back,
plus the audit trail and the log stream, looking for the number (and its first 12 digits, in
case a masked form leaks).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from stdnum import luhn

from core.settings import Settings
from db.base import Base
from db.models import Card
from db.session import Database
from tests.support.audit import last_sequence, rows_after, serialized
from tests.support.identity import SignedIn, gql, signed_in
from tests.support.logs import capture_logs
from tests.support.money import codes, create_holder, move, ok, open_account

CARD_FIELDS = "id last4 expiryMonth expiryYear status type"
ISSUE = f"""
mutation($input: IssueCardInput!) {{
  issueCard(input: $input) {{
    cardNumber securityCode card {{ {CARD_FIELDS} }} errors {{ code message field }}
  }}
}}
"""
CHANGE = """
mutation($input: CardIdInput!) {{
  {name}(input: $input) {{ card {{ id status last4 }} errors {{ code message field }} }}
}}
"""
ACCOUNT_STATUS = """
mutation($input: AccountIdInput!) {{
  {name}(input: $input) {{ account {{ status }} errors {{ code }} }}
}}
"""
CARD = f"query($id: ID!) {{ card(id: $id) {{ {CARD_FIELDS} account {{ id }} }} }}"
NODE = f"query($id: ID!) {{ node(id: $id) {{ ... on Card {{ {CARD_FIELDS} }} }} }}"
ACCOUNT_CARDS = f"query($id: ID!) {{ account(id: $id) {{ cards {{ {CARD_FIELDS} }} }} }}"
MY_CARDS = f"query {{ me {{ accounts {{ edges {{ node {{ cards {{ {CARD_FIELDS} }} }} }} }} }} }}"


def row_id(global_id: str) -> uuid.UUID:
    """The UUID inside an opaque global id."""
    return uuid.UUID(base64.b64decode(global_id).decode().partition(":")[2])


async def customer(client: httpx.AsyncClient, username: str = "ann") -> tuple[SignedIn, str]:
    """A signed-in user with a holder and one funded checking account."""
    user = await signed_in(client, username)
    await create_holder(client, user)
    account = await open_account(client, user)
    assert (await move(client, user, "deposit", account, 5_000))["errors"] == []
    return user, account


async def issue(
    client: httpx.AsyncClient, user: SignedIn, account: str, kind: str = "DEBIT"
) -> dict[str, Any]:
    """The `issueCard` payload (asserting no top-level error)."""
    data = await ok(client, ISSUE, {"input": {"accountId": account, "type": kind}}, user)
    payload: dict[str, Any] = data["issueCard"]
    return payload


async def issued(
    client: httpx.AsyncClient, user: SignedIn, account: str, kind: str = "DEBIT"
) -> dict[str, Any]:
    """A newly issued card's payload (asserting success)."""
    payload = await issue(client, user, account, kind)
    assert payload["errors"] == [], payload
    return payload


async def change(
    client: httpx.AsyncClient, user: SignedIn, name: str, card_id: str
) -> dict[str, Any]:
    """The payload of freezeCard / unfreezeCard / cancelCard."""
    data = await ok(client, CHANGE.format(name=name), {"input": {"cardId": card_id}}, user)
    payload: dict[str, Any] = data[name]
    return payload


async def card_statuses(client: httpx.AsyncClient, user: SignedIn, account: str) -> list[str]:
    """The statuses of an account's cards, oldest first."""
    data = await ok(client, ACCOUNT_CARDS, {"id": account}, user)
    return [card["status"] for card in data["account"]["cards"]]


async def every_stored_value(database: Database) -> list[str]:
    """Every non-null value of every row of every mapped table, as text."""
    values: list[str] = []
    async with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in (await connection.execute(select(table))).all():
                values += [
                    json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
                    for value in row
                    if value is not None
                ]
    return values


async def test_issue_card_returns_a_luhn_valid_number_and_a_security_code_once(
    client: httpx.AsyncClient,
) -> None:
    user, account = await customer(client)
    for kind in ("DEBIT", "VIRTUAL"):
        payload = await issued(client, user, account, kind)
        number, card = payload["cardNumber"], payload["card"]
        assert re.fullmatch(r"\d{16}", number), number
        assert luhn.is_valid(number)
        assert re.fullmatch(r"\d{3}", payload["securityCode"]), payload
        assert card["last4"] == number[-4:]
        assert (card["type"], card["status"]) == (kind, "ACTIVE")
        assert 1 <= card["expiryMonth"] <= 12
        assert card["expiryYear"] > datetime.now(UTC).year
    assert not luhn.is_valid(number[:-1] + str((int(number[-1]) + 1) % 10))


async def test_the_card_number_is_stored_nowhere_and_never_shown_again(
    client: httpx.AsyncClient, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs:
        user, account = await customer(client)
        before = await last_sequence(database)
        payload = await issued(client, user, account)
        number, card_id = payload["cardNumber"], payload["card"]["id"]
        reads = [
            await gql(client, CARD, {"id": card_id}, token=user.access_token),
            await gql(client, NODE, {"id": card_id}, token=user.access_token),
            await gql(client, ACCOUNT_CARDS, {"id": account}, token=user.access_token),
            await gql(client, MY_CARDS, token=user.access_token),
            await gql(
                client,
                CHANGE.format(name="freezeCard"),
                {"input": {"cardId": card_id}},
                token=user.access_token,
            ),
        ]
    secrets = (number, number[:12])
    for body in reads:
        assert "errors" not in body, body
        assert payload["card"]["last4"] in json.dumps(body)  # the card itself was returned
        assert not any(secret in json.dumps(body) for secret in secrets), body
    stored = await every_stored_value(database)
    assert any(value == number[-4:] for value in stored)  # the search does see the cards table
    assert not [value for value in stored if any(secret in value for secret in secrets)]
    audit = await rows_after(database, before)
    assert {row["entity_type"] for row in audit} >= {"Card"}
    assert not [row for row in audit if any(secret in serialized(row) for secret in secrets)]
    assert logs.events("request"), "the capture saw the access log"
    for text in (logs.text, caplog.text, *(str(r.__dict__) for r in caplog.records)):
        assert not any(secret in text for secret in secrets)


async def test_the_stored_fingerprint_is_a_keyed_hmac_not_a_plain_hash(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    user, account = await customer(client)
    payload = await issued(client, user, account)
    number = payload["cardNumber"]
    async with database.unit_of_work() as uow, uow.read() as session:
        stored = (
            await session.execute(
                select(Card.fingerprint).where(Card.id == row_id(payload["card"]["id"]))
            )
        ).scalar_one()
    assert stored != hashlib.sha256(number.encode()).hexdigest()
    key = settings.card_fingerprint_key()
    assert stored == hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


async def test_a_frozen_card_unfreezes_to_active(client: httpx.AsyncClient) -> None:
    user, account = await customer(client)
    card_id = (await issued(client, user, account))["card"]["id"]
    assert codes(await change(client, user, "unfreezeCard", card_id)) == ["CONFLICT"]
    frozen = await change(client, user, "freezeCard", card_id)
    assert (frozen["errors"], frozen["card"]["status"]) == ([], "FROZEN")
    assert codes(await change(client, user, "freezeCard", card_id)) == ["CONFLICT"]
    active = await change(client, user, "unfreezeCard", card_id)
    assert (active["errors"], active["card"]["status"]) == ([], "ACTIVE")
    assert await card_statuses(client, user, account) == ["ACTIVE"]


async def test_cancelling_a_card_is_final(client: httpx.AsyncClient) -> None:
    user, account = await customer(client)
    card_id = (await issued(client, user, account))["card"]["id"]
    assert (await change(client, user, "freezeCard", card_id))["errors"] == []
    cancelled = await change(client, user, "cancelCard", card_id)
    assert (cancelled["errors"], cancelled["card"]["status"]) == ([], "CANCELLED")
    for name in ("unfreezeCard", "freezeCard", "cancelCard"):
        refused = await change(client, user, name, card_id)
        assert (codes(refused), refused["card"]) == (["CONFLICT"], None), name
        assert refused["errors"][0]["field"] == ["input", "cardId"]
    assert await card_statuses(client, user, account) == ["CANCELLED"]


@pytest.mark.parametrize("status_change", ["freezeAccount", "closeAccount"])
async def test_no_card_is_issued_on_an_account_that_is_not_active(
    client: httpx.AsyncClient, status_change: str
) -> None:
    user = await signed_in(client, "ann")
    await create_holder(client, user)
    account = await open_account(client, user)  # empty, so it may be closed
    data = await ok(
        client, ACCOUNT_STATUS.format(name=status_change), {"input": {"accountId": account}}, user
    )
    assert data[status_change]["errors"] == [], data
    payload = await issue(client, user, account)
    assert codes(payload) == ["ACCOUNT_NOT_ACTIVE"]
    assert (payload["card"], payload["cardNumber"], payload["securityCode"]) == (None, None, None)
    assert payload["errors"][0]["field"] == ["input", "accountId"]
    assert await card_statuses(client, user, account) == []


async def test_an_account_holds_at_most_five_cards_that_are_not_cancelled(
    client: httpx.AsyncClient,
) -> None:
    user, account = await customer(client)
    cards = [(await issued(client, user, account))["card"]["id"] for _ in range(5)]
    assert (await change(client, user, "freezeCard", cards[0]))["errors"] == []  # still counts
    sixth = await issue(client, user, account, "VIRTUAL")
    assert codes(sixth) == ["CONFLICT"]
    assert sixth["cardNumber"] is None
    assert (await change(client, user, "cancelCard", cards[1]))["errors"] == []
    replacement = await issued(client, user, account, "VIRTUAL")
    assert replacement["card"]["status"] == "ACTIVE"
    assert codes(await issue(client, user, account)) == ["CONFLICT"]
    assert await card_statuses(client, user, account) == [
        "FROZEN", "CANCELLED", "ACTIVE", "ACTIVE", "ACTIVE", "ACTIVE"
    ]  # fmt: skip


async def test_reading_a_card_writes_an_audit_read_row(
    client: httpx.AsyncClient, database: Database
) -> None:
    user, account = await customer(client)
    card_id = (await issued(client, user, account))["card"]["id"]
    before = await last_sequence(database)
    body = await gql(client, CARD, {"id": card_id}, token=user.access_token)
    assert body["data"]["card"]["id"] == card_id, body
    [read] = await rows_after(database, before, entity_type="Card")
    assert (read["action"], read["entity_id"], read["user_id"], read["status"]) == (
        "READ", str(row_id(card_id)), user.user_id, "SUCCESS"
    )  # fmt: skip
