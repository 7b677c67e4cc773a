"""Authentication is one explicit step of every operation: once, before anything executes."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import func, select

from auth.principal import Principal
from auth.service import AuthService, Caller
from auth.tokens import TokenClaims, TokenService, TokenType
from db.errors import Unauthenticated
from db.models import AuditLog
from db.session import Database
from db.unit_of_work import UnitOfWork
from graph import health
from graph.context import Context, close_scope, open_scope
from tests.support.apps import app_with, code_of
from tests.support.identity import gql, signed_in
from tests.support.ws import live_app, open_as, run

PROTECTED_AND_PUBLIC = """
{ health { status } a: me { id } b: me { username } c: me { email }
  d: me { accounts(first: 1) { totalCount } } }
"""
BAD_TOKEN = "not-a-token"


def record_steps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each call of the auth service's entry point and each run of `health`'s check."""
    steps: list[str] = []
    authenticate, answers = AuthService.authenticate, health.database_answers

    async def authenticating(service: AuthService, uow: UnitOfWork, token: str) -> Caller:
        steps.append("authenticate")
        return await authenticate(service, uow, token)

    async def checking(*args: Any) -> bool:
        steps.append("health")
        return await answers(*args)

    monkeypatch.setattr(AuthService, "authenticate", authenticating)
    monkeypatch.setattr(health, "database_answers", checking)
    return steps


async def token_rejections(database: Database) -> int:
    statement = select(func.count()).where(AuditLog.action == "TOKEN_REJECTED")
    async with database.unit_of_work() as uow, uow.read() as session:
        return int((await session.execute(statement)).scalar_one())


async def test_the_caller_is_authenticated_once_before_any_field_resolves(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await signed_in(client, "ann")
    steps = record_steps(monkeypatch)
    body = await gql(client, PROTECTED_AND_PUBLIC, token=user.access_token)
    assert "errors" not in body, body
    assert body["data"]["c"] == {"email": "ann@example.com"}
    assert steps == ["authenticate", "health"]


async def test_a_refused_token_is_checked_and_counted_once_though_no_field_asks_for_the_caller(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = record_steps(monkeypatch)
    body = await gql(client, "{ health { status } }", token=BAD_TOKEN)
    # Public fields answer as for an anonymous caller; the token was still checked, first.
    assert body["data"] == {"health": {"status": "OK"}}, body
    assert steps == ["authenticate", "health"]
    assert await token_rejections(database) == 1
    steps.clear()
    refused = await gql(client, PROTECTED_AND_PUBLIC, token=BAD_TOKEN)
    assert code_of(refused) == "UNAUTHENTICATED"
    assert {error["extensions"]["code"] for error in refused["errors"]} == {"UNAUTHENTICATED"}
    # The refused `me` nulls the whole answer, which cancels `health` if it still waits for the
    # operation's connection (SQLite opens one): the token was checked once, before anything.
    assert steps in (["authenticate"], ["authenticate", "health"])


async def test_a_document_refused_for_its_cost_is_not_authenticated(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with app_with(database_url, tmp_path, graphql_max_cost=3) as (client, app):
        steps = record_steps(monkeypatch)
        body = await gql(client, PROTECTED_AND_PUBLIC, token=BAD_TOKEN)
        assert code_of(body) == "BAD_REQUEST"
        assert steps == []
        assert await token_rejections(app.state.database) == 0


async def test_each_websocket_operation_checks_the_connection_token_once(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_app(database_url, tmp_path) as live:
        user = await signed_in(live.http, "ann")
        steps = record_steps(monkeypatch)
        verified: list[TokenType] = []
        verify = TokenService.verify

        def verifying(service: TokenService, token: str, expected: TokenType) -> TokenClaims:
            verified.append(expected)
            return verify(service, token, expected)

        monkeypatch.setattr(TokenService, "verify", verifying)
        async with live.connect() as ws:
            await open_as(live, ws, user.access_token)
            assert (steps, verified) == (["authenticate"], [TokenType.ACCESS])
            for operation_id in ("1", "2"):
                payload = await run(ws, operation_id, PROTECTED_AND_PUBLIC)
                assert "errors" not in payload, payload
            assert steps == ["authenticate", *["authenticate", "health"] * 2]
            assert verified == [TokenType.ACCESS] * 3


async def test_the_caller_is_only_read_from_the_scope_never_resolved_on_demand(
    database: Database,
) -> None:
    # `principal()` uses nothing of the context: it cannot authenticate, only read the scope.
    context = cast("Context", None)
    scope, token = open_scope(database)
    try:
        with pytest.raises(RuntimeError, match="before its authentication step ran"):
            await Context.principal(context)
        refusal = Unauthenticated("The token is invalid.")
        scope.refuse(refusal)
        with pytest.raises(Unauthenticated) as raised:
            await Context.principal(context)
        assert raised.value is refusal
        scope.rejected = None
        principal = Principal(
            user_id=uuid.uuid4(), session_id=uuid.uuid4(), username="ann",
            permissions=frozenset(), is_admin=False,
        )  # fmt: skip
        scope.act_as(principal)
        assert await Context.principal(context) is principal
    finally:
        await close_scope(scope, token)
