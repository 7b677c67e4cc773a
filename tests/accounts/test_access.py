"""Nobody reads or moves money on another holder's account, through any path.

Ann and Bob each have a holder profile, funded accounts, a transfer and a card. Bob, staff
without `accounts:read`, staff with it, anonymous callers and malformed ids are all tried
against Ann's objects; every refusal must look like "not found" and change nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from db.session import Database
from tests.identity.test_users_queries import assert_top_level
from tests.support.identity import SignedIn, global_id, gql, signed_in, signed_in_with_role
from tests.support.money import create_holder, key, move, ok, open_account, transfer

ISSUE_CARD = """
mutation($input: IssueCardInput!) {
  issueCard(input: $input) { card { id } cardNumber errors { code field } }
}
"""
STATE = """
query {
  me {
    accountHolder { id firstName lastName }
    accounts { edges { node {
      id status balance { amount }
      transactions(first: 50) { totalCount edges { node { id amount { amount } } } }
      cards { id status last4 }
    } } }
  }
}
"""
MUTATIONS = {
    "deposit": ("MoneyMovementInput", "transaction"),
    "withdraw": ("MoneyMovementInput", "transaction"),
    "transfer": ("TransferInput", "transfer"),
    "freezeAccount": ("AccountIdInput", "account"),
    "unfreezeAccount": ("AccountIdInput", "account"),
    "closeAccount": ("AccountIdInput", "account"),
    "issueCard": ("IssueCardInput", "card"),
    "freezeCard": ("CardIdInput", "card"),
    "unfreezeCard": ("CardIdInput", "card"),
    "cancelCard": ("CardIdInput", "card"),
}
"""Mutation name -> (input type, result field that must stay null on refusal)."""


@dataclass
class Customer:
    """A signed-in user with a holder, two funded accounts, an empty one, a transfer, a card."""

    user: SignedIn
    holder: str
    checking: str
    savings: str
    empty: str
    transfer: str
    card: str


def mutation(name: str) -> str:
    """The document of one banking mutation, asking for its result field and errors."""
    input_type, result = MUTATIONS[name]
    return (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) "
        f"{{ {result} {{ id }} errors {{ code field }} }} }}"
    )


async def customer(client: httpx.AsyncClient, username: str, first_name: str) -> Customer:
    """Sign up `username` and give them money on two accounts, a transfer and a card."""
    user = await signed_in(client, username)
    holder = await create_holder(client, user, first_name)
    checking = await open_account(client, user)
    savings = await open_account(client, user, kind="SAVINGS")
    empty = await open_account(client, user)
    assert (await move(client, user, "deposit", checking, 10_000))["errors"] == []
    moved = await transfer(client, user, checking, savings, 2_500)
    assert moved["errors"] == [], moved
    issued = await ok(client, ISSUE_CARD, {"input": {"accountId": checking, "type": "DEBIT"}}, user)
    assert issued["issueCard"]["errors"] == [], issued
    return Customer(
        user=user, holder=holder, checking=checking, savings=savings, empty=empty,
        transfer=moved["transfer"]["id"], card=issued["issueCard"]["card"]["id"],
    )  # fmt: skip


@pytest.fixture
async def ann(client: httpx.AsyncClient) -> Customer:
    """Ann: the victim whose objects everyone else tries to reach."""
    return await customer(client, "ann", "Ann")


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> Customer:
    """Bob: another customer with money of his own (after Ann when a test asks for both)."""
    return await customer(client, "bob", "Bob")


async def state(client: httpx.AsyncClient, owner: SignedIn) -> dict[str, Any]:
    """Everything the owner sees of their own banking data."""
    data = await ok(client, STATE, {}, owner)
    me: dict[str, Any] = data["me"]
    return me


def today() -> str:
    """Today's UTC date, ISO formatted."""
    return datetime.now(UTC).date().isoformat()


def attacks(ann: Customer, own_account: str) -> list[tuple[str, dict[str, Any]]]:
    """Every mutation aimed at Ann's accounts and card, each of which would succeed for her."""
    deposit = {"amount": 100, "idempotencyKey": key(), "description": "x"}
    return [
        ("deposit", {"accountId": ann.checking, **deposit}),
        ("withdraw", {"accountId": ann.checking, **deposit, "idempotencyKey": key()}),
        ("transfer", {"fromAccountId": ann.checking, "toAccountId": own_account, "amount": 100,
                      "idempotencyKey": key()}),
        ("transfer", {"fromAccountId": ann.checking, "toAccountId": ann.savings, "amount": 100,
                      "idempotencyKey": key()}),
        ("transfer", {"fromAccountId": own_account, "toAccountId": ann.checking, "amount": 100,
                      "idempotencyKey": key()}),
        ("freezeAccount", {"accountId": ann.checking}),
        ("closeAccount", {"accountId": ann.empty}),
        ("issueCard", {"accountId": ann.checking, "type": "VIRTUAL"}),
        ("freezeCard", {"cardId": ann.card}),
        ("cancelCard", {"cardId": ann.card}),
    ]  # fmt: skip


async def assert_all_refused_as_not_found(
    client: httpx.AsyncClient, caller: SignedIn, cases: list[tuple[str, dict[str, Any]]]
) -> None:
    """Each mutation returns payload NOT_FOUND and a null result."""
    for name, values in cases:
        body = await gql(client, mutation(name), {"input": values}, token=caller.access_token)
        assert "errors" not in body, (name, body)
        payload = body["data"][name]
        assert [error["code"] for error in payload["errors"]] == ["NOT_FOUND"], (name, payload)
        assert payload[MUTATIONS[name][1]] is None, (name, payload)


# --- another customer ------------------------------------------------------------------------


async def test_another_customer_gets_not_found_for_every_query_by_id(
    client: httpx.AsyncClient, ann: Customer, bob: Customer
) -> None:
    reads = [
        ("query($id: ID!) { account(id: $id) { id balance { amount } } }", {"id": ann.checking}),
        ("query($id: ID!) { accountHolder(id: $id) { id firstName } }", {"id": ann.holder}),
        ("query($id: ID!) { card(id: $id) { id last4 } }", {"id": ann.card}),
        ("query($id: ID!) { transfer(id: $id) { id amount { amount } } }", {"id": ann.transfer}),
        ("query($id: ID!) { user(id: $id) { id username } }", {"id": ann.user.global_id}),
        (
            "query($id: ID!, $day: Date!) { statement(accountId: $id, from: $day, to: $day) "
            "{ closingBalance { amount } } }",
            {"id": ann.checking, "day": today()},
        ),
    ]
    for query, variables in reads:
        own = await gql(client, query, variables, token=ann.user.access_token)
        assert "errors" not in own, own  # the same read works for the owner
        body = await gql(client, query, variables, token=bob.user.access_token)
        assert_top_level(body, "NOT_FOUND", 404)
        assert not any((body.get("data") or {}).values()), body


async def test_node_is_null_for_another_customers_objects(
    client: httpx.AsyncClient, ann: Customer, bob: Customer
) -> None:
    query = "query($id: ID!) { node(id: $id) { id __typename } }"
    for object_id in (ann.checking, ann.holder, ann.card, ann.transfer):
        own = await gql(client, query, {"id": object_id}, token=ann.user.access_token)
        assert own["data"]["node"]["id"] == object_id, own
        body = await gql(client, query, {"id": object_id}, token=bob.user.access_token)
        assert body == {"data": {"node": None}, "extensions": body["extensions"]}, body


async def test_a_customer_may_not_list_account_holders(client: httpx.AsyncClient) -> None:
    carol = await signed_in(client, "carol")
    await create_holder(client, carol)
    body = await gql(
        client, "query { accountHolders { edges { node { id } } } }", token=carol.access_token
    )
    assert_top_level(body, "FORBIDDEN", 403)


async def test_another_customer_cannot_move_money_or_change_anything(
    client: httpx.AsyncClient, ann: Customer, bob: Customer
) -> None:
    ann_before = await state(client, ann.user)
    bob_before = await state(client, bob.user)
    cases = [*attacks(ann, bob.checking), ("unfreezeCard", {"cardId": ann.card})]
    await assert_all_refused_as_not_found(client, bob.user, cases)
    assert await state(client, ann.user) == ann_before
    assert await state(client, bob.user) == bob_before
    balances = [edge["node"]["balance"]["amount"] for edge in ann_before["accounts"]["edges"]]
    assert balances == [7_500, 2_500, 0]


# --- staff -----------------------------------------------------------------------------------


async def test_support_lists_and_reads_holders_but_not_accounts(
    client: httpx.AsyncClient, database: Database, ann: Customer, bob: Customer
) -> None:
    support = await signed_in_with_role(client, database, "helpdesk", "support")
    listed = await ok(
        client,
        "query { accountHolders(first: 10) { totalCount edges { node { id firstName } } } }",
        {}, support,
    )  # fmt: skip
    holders = listed["accountHolders"]
    assert holders["totalCount"] == 2
    assert [edge["node"] for edge in holders["edges"]] == [
        {"id": ann.holder, "firstName": "Ann"}, {"id": bob.holder, "firstName": "Bob"}
    ]  # fmt: skip
    read = await ok(
        client,
        "query($id: ID!) { accountHolder(id: $id) { firstName accounts { totalCount } } }",
        {"id": ann.holder}, support,
    )  # fmt: skip
    assert read["accountHolder"] == {"firstName": "Ann", "accounts": {"totalCount": 0}}
    body = await gql(
        client, "query($id: ID!) { account(id: $id) { id } }", {"id": ann.checking},
        token=support.access_token,
    )  # fmt: skip
    assert_top_level(body, "NOT_FOUND", 404)


async def test_admin_reads_another_customers_accounts(
    client: httpx.AsyncClient, database: Database, ann: Customer
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    account_fields = """
      id balance { amount } holder { firstName }
      transactions(first: 10) { totalCount edges { node { type amount { amount } } } }
      cards { id last4 status }
    """
    data = await ok(
        client,
        f"query($a: ID!, $u: ID!) {{ account(id: $a) {{ {account_fields} }} "
        f"user(id: $u) {{ accountHolder {{ id }} "
        f"accounts {{ edges {{ node {{ {account_fields} }} }} }} }} }}",
        {"a": ann.checking, "u": ann.user.global_id}, admin,
    )  # fmt: skip
    account = data["account"]
    assert account["balance"] == {"amount": 7_500}
    assert account["holder"] == {"firstName": "Ann"}
    assert account["transactions"]["totalCount"] == 2
    assert [(e["node"]["type"], e["node"]["amount"]["amount"])
            for e in account["transactions"]["edges"]] == [("TRANSFER_OUT", 2_500),
                                                           ("DEPOSIT", 10_000)]  # fmt: skip
    [card] = account["cards"]
    assert (card["id"], card["status"]) == (ann.card, "ACTIVE")
    assert data["user"]["accountHolder"] == {"id": ann.holder}
    listed = [edge["node"] for edge in data["user"]["accounts"]["edges"]]
    assert [node["id"] for node in listed] == [ann.checking, ann.savings, ann.empty]
    assert listed[0] == account


async def test_admin_cannot_move_money_on_another_customers_account(
    client: httpx.AsyncClient, database: Database, ann: Customer
) -> None:
    admin = await signed_in_with_role(client, database, "boss", "admin")
    await create_holder(client, admin, "Boss")
    admin_account = await open_account(client, admin)
    assert (await move(client, admin, "deposit", admin_account, 1_000))["errors"] == []
    before = await state(client, ann.user)
    await assert_all_refused_as_not_found(client, admin, attacks(ann, admin_account))
    assert await state(client, ann.user) == before


# --- anonymous callers and malformed ids -----------------------------------------------------


async def test_every_banking_operation_needs_authentication(
    client: httpx.AsyncClient, ann: Customer
) -> None:
    day = today()
    queries: list[tuple[str, dict[str, Any]]] = [
        ("query { accountHolders { edges { node { id } } } }", {}),
        ("query($id: ID!) { accountHolder(id: $id) { id } }", {"id": ann.holder}),
        ("query($id: ID!) { account(id: $id) { id } }", {"id": ann.checking}),
        ("query($id: ID!) { card(id: $id) { id } }", {"id": ann.card}),
        ("query($id: ID!) { transfer(id: $id) { id } }", {"id": ann.transfer}),
        ("query($id: ID!, $d: Date!) { statement(accountId: $id, from: $d, to: $d) "
         "{ closingBalance { amount } } }", {"id": ann.checking, "d": day}),
        ("query { me { accountHolder { id } accounts { totalCount } } }", {}),
    ]  # fmt: skip
    holder = {"firstName": "Eve", "lastName": "Mallory", "dateOfBirth": "1990-01-01"}
    mutations = [
        ("createAccountHolder", "CreateAccountHolderInput", "accountHolder", holder),
        ("openAccount", "OpenAccountInput", "account", {"type": "CHECKING", "currency": "USD"}),
        *[(name, MUTATIONS[name][0], MUTATIONS[name][1], values)
          for name, values in attacks(ann, ann.savings)],
        ("unfreezeAccount", "AccountIdInput", "account", {"accountId": ann.checking}),
        ("unfreezeCard", "CardIdInput", "card", {"cardId": ann.card}),
    ]  # fmt: skip
    for name, input_type, result, values in mutations:
        document = (
            f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {result} {{ id }} }} }}"
        )
        queries.append((document, {"input": values}))
    for query, variables in queries:
        body = await gql(client, query, variables)
        assert_top_level(body, "UNAUTHENTICATED", 401)
    balances = await state(client, ann.user)
    assert balances["accounts"]["edges"][0]["node"]["balance"] == {"amount": 7_500}


async def test_node_reveals_nothing_without_a_token(
    client: httpx.AsyncClient, ann: Customer
) -> None:
    for object_id in (ann.checking, ann.holder, ann.card, ann.transfer):
        body = await gql(client, "query($id: ID!) { node(id: $id) { id } }", {"id": object_id})
        if "errors" in body:
            assert_top_level(body, "UNAUTHENTICATED", 401)
        else:
            assert body["data"] == {"node": None}, body


BROKEN_IDS = [
    "not base64 at all!",
    "",
    global_id("Account", "not-a-uuid"),
    global_id("Card", "12345"),
    global_id("Account", uuid.uuid4()),
    "QWNjb3VudA==",  # "Account" without a separator
]
"""Ids that name nothing at all."""

BY_ID = "query($id: ID!) {{ {name}(id: $id) {{ id }} }}"
STATEMENT = """
query($id: ID!, $day: Date!) { statement(accountId: $id, from: $day, to: $day) { from } }
"""


def refusal_code(body: dict[str, Any], name: str) -> str:
    """The code a refused operation reported, top-level or in its payload."""
    if "errors" in body:
        [error] = body["errors"]
        code: str = error["extensions"]["code"]
        return code
    [error] = body["data"][name]["errors"]
    payload_code: str = error["code"]
    return payload_code


def operations(bob: Customer, bad: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(field, type of id it takes, document, variables) of every operation given `bad`."""
    movement = {"amount": 1, "idempotencyKey": key()}
    return [
        ("account", "Account", BY_ID.format(name="account"), {"id": bad}),
        ("accountHolder", "AccountHolder", BY_ID.format(name="accountHolder"), {"id": bad}),
        ("card", "Card", BY_ID.format(name="card"), {"id": bad}),
        ("transfer", "Transfer", BY_ID.format(name="transfer"), {"id": bad}),
        ("statement", "Account", STATEMENT, {"id": bad, "day": today()}),
        ("deposit", "Account", mutation("deposit"), {"input": {"accountId": bad, **movement}}),
        ("transfer", "Account", mutation("transfer"),
         {"input": {"fromAccountId": bob.checking, "toAccountId": bad, **movement}}),
        ("issueCard", "Account", mutation("issueCard"),
         {"input": {"accountId": bad, "type": "DEBIT"}}),
        ("freezeAccount", "Account", mutation("freezeAccount"), {"input": {"accountId": bad}}),
        ("freezeCard", "Card", mutation("freezeCard"), {"input": {"cardId": bad}}),
    ]  # fmt: skip


async def assert_refused(
    client: httpx.AsyncClient,
    caller: SignedIn,
    cases: list[tuple[str, str, str, dict[str, Any]]],
) -> None:
    """Each operation fails with NOT_FOUND or BAD_REQUEST (never INTERNAL, never success)."""
    for name, _, document, variables in cases:
        body = await gql(client, document, variables, token=caller.access_token)
        assert refusal_code(body, name) in {"NOT_FOUND", "BAD_REQUEST"}, (variables, body)


async def test_malformed_ids_are_not_found_or_bad_request_never_internal(
    client: httpx.AsyncClient, bob: Customer
) -> None:
    for bad in BROKEN_IDS:
        await assert_refused(client, bob.user, operations(bob, bad))
        node = await gql(
            client, BY_ID.format(name="node"), {"id": bad}, token=bob.user.access_token
        )
        if "errors" in node:
            assert refusal_code(node, "node") == "BAD_REQUEST", (bad, node)
        else:
            assert node["data"] == {"node": None}, (bad, node)


async def test_ids_of_the_wrong_type_are_not_found_or_bad_request(
    client: httpx.AsyncClient, bob: Customer
) -> None:
    own_ids = {
        "User": global_id("User", bob.user.user_id), "Account": bob.checking,
        "AccountHolder": bob.holder, "Card": bob.card, "Transfer": bob.transfer,
    }  # fmt: skip
    for type_name, own_id in own_ids.items():  # Bob's own ids, valid where their type belongs
        cases = [case for case in operations(bob, own_id) if case[1] != type_name]
        await assert_refused(client, bob.user, cases)
    mine = await state(client, bob.user)
    checking = mine["accounts"]["edges"][0]["node"]
    assert (checking["status"], checking["balance"]) == ("ACTIVE", {"amount": 7_500})
    assert [card["status"] for card in checking["cards"]] == ["ACTIVE"]
