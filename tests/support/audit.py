"""Helpers for audit-trail tests: read rows behind the API's back, tamper with the chain."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, text

from db.audit.chain import HASHED_FIELDS
from db.models import AuditLog
from db.session import Database
from graph.app import create_app
from tests.conftest import make_settings
from tests.support.identity import gql
from tests.support.lifespan import app_lifespan

ROW_FIELDS = (*HASHED_FIELDS, "key_id", "previous_hash", "hash")
"""Every column of an audit row, by attribute name (`extra` is the `metadata` column)."""

NODE_FIELDS = """
id sequence action entityType entityId oldValues newValues description ipAddress userAgent
status errorMessage requestId createdAt metadata hash user { id username }
"""
AUDIT_LOGS = f"""
query Audit($first: Int, $after: String, $filter: AuditLogFilter) {{
  auditLogs(first: $first, after: $after, filter: $filter) {{
    totalCount
    edges {{ cursor node {{ {NODE_FIELDS} }} }}
    pageInfo {{ hasNextPage endCursor hasPreviousPage startCursor }}
  }}
}}
"""
AUDIT_CHAIN = "query Chain { auditChain { valid checkedEntries firstBrokenSequence headHash } }"

DROP_IMMUTABILITY = {
    "postgresql": ["DROP TRIGGER audit_logs_immutable ON audit_logs"],
    "sqlite": ["DROP TRIGGER audit_logs_no_update", "DROP TRIGGER audit_logs_no_delete"],
}


def as_dict(row: AuditLog) -> dict[str, Any]:
    """An audit row as a plain dictionary keyed by attribute name."""
    return {name: getattr(row, name) for name in ROW_FIELDS}


def serialized(row: dict[str, Any]) -> str:
    """The whole row as one JSON text, to search for values that must never appear."""
    return json.dumps(row, default=str, sort_keys=True)


async def audit_rows(database: Database, **where: Any) -> list[dict[str, Any]]:
    """The stored audit rows in sequence order, optionally filtered by column equality."""
    statement = select(AuditLog).order_by(AuditLog.sequence)
    for name, value in where.items():
        statement = statement.where(getattr(AuditLog, name) == value)
    async with database.unit_of_work() as uow, uow.read() as session:
        found = (await session.execute(statement)).scalars().all()
        return [as_dict(row) for row in found]


async def last_sequence(database: Database) -> int:
    """The sequence of the newest stored row (0 when the trail is empty)."""
    rows = await audit_rows(database)
    return rows[-1]["sequence"] if rows else 0


async def rows_after(database: Database, sequence: int, **where: Any) -> list[dict[str, Any]]:
    """Rows appended after `sequence` (and matching `where`), in sequence order."""
    return [row for row in await audit_rows(database, **where) if row["sequence"] > sequence]


async def execute_raw(database: Database, sql: str, **params: Any) -> None:
    """Run one SQL statement in a transaction of its own, bypassing the application."""
    async with database.engine.begin() as connection:
        await connection.execute(text(sql), params)


async def drop_immutability_triggers(database: Database) -> None:
    """What an attacker with DDL rights would do first: remove the UPDATE/DELETE refusal."""
    for statement in DROP_IMMUTABILITY[database.dialect]:
        await execute_raw(database, statement)


async def audit_logs(
    client: httpx.AsyncClient,
    token: str,
    *,
    first: int | None = None,
    after: str | None = None,
    **filters: Any,
) -> dict[str, Any]:
    """The `auditLogs` connection as seen by the caller (asserting no error)."""
    variables: dict[str, Any] = {"first": first, "after": after, "filter": filters or None}
    body = await gql(client, AUDIT_LOGS, variables, token=token)
    assert "errors" not in body, body
    connection: dict[str, Any] = body["data"]["auditLogs"]
    return connection


def sequences(connection: dict[str, Any]) -> list[int]:
    """The sequences of a connection's nodes, in page order."""
    return [edge["node"]["sequence"] for edge in connection["edges"]]


async def audit_chain(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    """The `auditChain` verdict (asserting no error)."""
    body = await gql(client, AUDIT_CHAIN, token=token)
    assert "errors" not in body, body
    status: dict[str, Any] = body["data"]["auditChain"]
    return status


@asynccontextmanager
async def client_with(
    database_url: str, tmp_path: Path, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of an app built with settings overrides (e.g. `audit_reads`)."""
    application = create_app(make_settings(database_url, tmp_path, **overrides))
    async with app_lifespan(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
