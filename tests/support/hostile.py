"""Helpers for hostile-input tests: raw JSON bodies, forged tokens and cursors, table snapshots."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import jwt
from sqlalchemy import func, select

from auth.tokens import ALGORITHM, key_id
from db.base import Base
from db.session import Database
from tests.conftest import TEST_SECRET


async def post_raw(
    client: httpx.AsyncClient, body: bytes | str, token: str | None = None, **headers: str
) -> httpx.Response:
    """POST a body exactly as given (JSON escapes keep unpaired surrogates intact)."""
    all_headers = {"content-type": "application/json", **headers}
    if token:
        all_headers["authorization"] = f"Bearer {token}"
    return await client.post("/graphql", content=body, headers=all_headers)


async def gql_escaped(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """POST an operation as ASCII JSON (httpx's own encoder cannot send lone surrogates)."""
    body = json.dumps({"query": query, "variables": variables or {}})
    response = await post_raw(client, body, token)
    assert response.status_code == 200, response.text
    decoded: dict[str, Any] = response.json()
    return decoded


async def row_counts(database: Database) -> dict[str, int]:
    """How many rows every table holds."""
    async with database.unit_of_work() as uow, uow.read() as session:
        counts = {}
        for table in Base.metadata.sorted_tables:
            total = await session.execute(select(func.count()).select_from(table))
            counts[table.name] = total.scalar_one()
        return counts


def forged_token(access_token: str, **claims: Any) -> str:
    """The claims of `access_token` with `claims` replaced, signed with the test key."""
    payload = jwt.decode(access_token, options={"verify_signature": False})
    payload.update(claims)
    return jwt.encode(
        payload, TEST_SECRET, algorithm=ALGORITHM, headers={"kid": key_id(TEST_SECRET)}
    )


def forged_cursor(ordering: str, bookmark: str) -> str:
    """A cursor in LedgerQL's format holding any bookmark text."""
    return base64.urlsafe_b64encode(f"{ordering}|{bookmark}".encode()).decode().rstrip("=")
