"""The stack's ceiling: Strawberry on Starlette and uvicorn answering W1-W3 with no work at all.

The same types, fields and arguments as LedgerQL's answers to W1 (`me { id email }`), W2 (the
dashboard) and W3 (`account(id) { transactions(first: 100) }`), but every answer is built in
memory at start-up from LedgerQL's own answers (the JSON file `CEILING_DATA` names, written by
bench/ceiling.py) as dicts that graphql-core's default resolver reads: no database, no token
check (the bearer token is a dictionary key), no extension but Strawberry's parser and
validation caches, strings where LedgerQL has enums and DateTime. Whatever this server answers
per second is more than any server built on this stack can answer for the same documents, so
it bounds what LedgerQL could reach by cutting its own work.

    CEILING_DATA=answers.json uvicorn bench.ceiling_app:app --workers 2
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NewType, cast

import strawberry
from graphql import GraphQLObjectType
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

Long = strawberry.scalar(
    NewType("Long", int), name="Long", serialize=int, parse_value=int,
    description="LedgerQL's 64-bit integer: amounts in minor units.",
)  # fmt: skip


@strawberry.type
class Money:
    """An amount with its currency, as LedgerQL shows it."""

    amount: Long  # type: ignore[valid-type]
    currency: str


@strawberry.type
class Transaction:
    """One ledger line."""

    amount: Money
    type: str
    created_at: str


@strawberry.type
class TransactionEdge:
    """A ledger line in a page."""

    node: Transaction


@strawberry.type
class TransactionConnection:
    """A page of ledger lines."""

    edges: list[TransactionEdge]


@strawberry.type
class Card:
    """A card's visible fields."""

    last4: str
    status: str


@strawberry.type
class Account:
    """An account with its balance, newest lines and cards."""

    id: strawberry.ID
    balance: Money
    cards: list[Card]

    @strawberry.field
    def transactions(self, first: int = 20) -> TransactionConnection:
        """The newest `first` lines."""
        return cast("TransactionConnection", {"edges": cast("Any", self)["lines"][:first]})


@strawberry.type
class AccountEdge:
    """An account in a page."""

    node: Account


@strawberry.type
class AccountConnection:
    """A page of accounts."""

    edges: list[AccountEdge]


@strawberry.type
class User:
    """The caller."""

    id: strawberry.ID
    email: str

    @strawberry.field
    def accounts(self, first: int = 20) -> AccountConnection:
        """The first `first` accounts."""
        return cast("AccountConnection", {"edges": cast("Any", self)["owned"][:first]})


def _lines(connection: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"node": edge["node"]} for edge in connection["edges"]]


def load(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every user (by bearer token) and every account (by id) from LedgerQL's answers, as dicts."""
    users: dict[str, Any] = {}
    accounts: dict[str, Any] = {}
    for token, answer in json.loads(path.read_text()).items():
        owned = []
        for edge in answer["w2"]["me"]["accounts"]["edges"]:
            node = edge["node"]
            long_page = answer["w3"].get(node["id"])
            account = {**node, "lines": _lines(long_page or node["transactions"])}
            accounts[node["id"]] = account
            owned.append({"node": account})
        users[token] = {**answer["w1"]["me"], "owned": owned}
    return users, accounts


USERS, ACCOUNTS = load(Path(os.environ.get("CEILING_DATA", "ceiling.json")))


def _token(info: strawberry.Info) -> str:
    return str(info.context["request"].headers.get("authorization", "")).removeprefix("Bearer ")


@strawberry.type
class Query:
    """W1-W3's roots."""

    @strawberry.field
    def me(self, info: strawberry.Info) -> User | None:
        """The caller, by bearer token."""
        return cast("User | None", USERS.get(_token(info)))

    @strawberry.field
    def account(self, id: strawberry.ID) -> Account | None:
        """One account by id."""
        return cast("Account | None", ACCOUNTS.get(id))


def plain_fields_on_graphql_core(schema: strawberry.Schema) -> None:
    """Every field without a resolver of its own reads the answer's dict key itself.

    graphql-core's default resolver (`resolve=None`) is the cheapest way a field is resolved.
    """
    for graphql_type in schema._schema.type_map.values():
        if isinstance(graphql_type, GraphQLObjectType) and not graphql_type.name.startswith("__"):
            for field in graphql_type.fields.values():
                if getattr(field.resolve, "__name__", None) == "_get_basic_result":
                    field.resolve = None


schema = strawberry.Schema(query=Query, extensions=[ParserCache, ValidationCache])
plain_fields_on_graphql_core(schema)
app = Starlette(routes=[Route("/graphql", GraphQL(schema, graphql_ide=None))])
