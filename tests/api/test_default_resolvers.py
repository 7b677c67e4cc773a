"""Plain data fields run on graphql-core's default resolver, not a Strawberry wrapper."""

from __future__ import annotations

from pathlib import Path

from graphql import GraphQLObjectType

from graph.schema import LedgerSchema, build_schema
from tests.conftest import make_settings

PLAIN = [
    "Account.type", "Account.currency", "Account.balance", "Account.status",
    "Money.amount", "Money.currency",
    "Transaction.type", "Transaction.amount", "Transaction.description",
    "TransactionEdge.node", "AccountEdge.node", "AccountConnection.edges",
    "Card.type", "Card.last4", "Card.status",
    "AuditLog.sequence", "AuditLog.action", "AuditLog.status", "AuditLog.hash",
    "User.username", "User.email", "Session.current", "UserError.code", "Health.status",
]  # fmt: skip
"""Fields the dashboard and audit feeds read most: no resolver, same Python and GraphQL name."""

WRAPPED = [
    "Transaction.createdAt",  # Python `created_at`: Strawberry maps the name
    "Money.formatted",  # a resolver
    "Account.id",  # relay ids are encoded
    "Account.transactions",  # a resolver
    "AuditLog.user",  # a resolver
]  # fmt: skip


def schema_of(tmp_path: Path) -> LedgerSchema:
    schema = build_schema(make_settings("sqlite+aiosqlite:///:memory:", tmp_path))
    assert isinstance(schema, LedgerSchema)
    return schema


def field_resolver(schema: LedgerSchema, name: str) -> object:
    type_name, field_name = name.split(".")
    graphql_type = schema._schema.type_map[type_name]
    assert isinstance(graphql_type, GraphQLObjectType)
    return graphql_type.fields[field_name].resolve


def test_plain_data_fields_have_no_resolver_of_their_own(tmp_path: Path) -> None:
    schema = schema_of(tmp_path)
    assert [name for name in PLAIN if field_resolver(schema, name) is not None] == []
    assert set(PLAIN) <= set(schema.plain_fields)


def test_renamed_and_resolved_fields_keep_strawberrys_resolver(tmp_path: Path) -> None:
    schema = schema_of(tmp_path)
    assert [name for name in WRAPPED if field_resolver(schema, name) is None] == []
    assert set(WRAPPED).isdisjoint(schema.plain_fields)
