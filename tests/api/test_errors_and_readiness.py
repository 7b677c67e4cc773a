"""Unexpected errors are masked and logged; readiness and start-up fail loudly and cleanly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import strawberry
from strawberry.extensions import SchemaExtension

from core.settings import Settings
from db.errors import AccountLocked, Conflict, Forbidden
from db.session import DatabaseUnavailable
from graph.app import create_app
from graph.common.payloads import UserError
from graph.context import Context
from graph.errors import ErrorCode
from graph.scalars import Long
from graph.schema import LedgerSchema, schema_extensions
from tests.conftest import make_settings
from tests.support.lifespan import app_lifespan
from tests.support.logs import capture_logs
from tests.support.queries import graphql


@strawberry.type
class FailingQuery:
    @strawberry.field
    def boom(self) -> int:
        raise RuntimeError("secret internals: password=hunter2 at db host 10.0.0.1")

    @strawberry.field
    def locked(self) -> int:
        raise AccountLocked(retry_after=90)

    @strawberry.field
    def forbidden(self) -> int:
        raise Forbidden

    @strawberry.field
    def echo_long(self, value: Long) -> Long:
        return value

    @strawberry.field
    def too_long(self) -> Long:
        return Long(2**53)

    @strawberry.field
    def conflict(self) -> UserError:
        return UserError.from_exception(Conflict("Username is taken", field=["input", "username"]))

    @strawberry.field
    async def uow_outside(self, info: strawberry.Info[Context, None]) -> bool:
        return info.context.uow is info.context.uow


@pytest.fixture
async def failing_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    schema = LedgerSchema(query=FailingQuery, extensions=schema_extensions(settings))
    app = create_app(settings, schema=schema)
    async with app_lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_unexpected_errors_are_masked_and_logged_with_the_trace(
    failing_client: httpx.AsyncClient,
) -> None:
    with capture_logs() as logs:
        response = await failing_client.post("/graphql", json={"query": "query Boom { boom }"})
    body = response.json()
    [error] = body["errors"]
    request_id = response.headers["x-request-id"]
    assert error["extensions"] == {"code": "INTERNAL", "status": 500, "requestId": request_id}
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text

    [entry] = logs.events("graphql_unexpected_error")
    assert entry["request_id"] == request_id
    assert "RuntimeError" in entry["exception"]
    assert entry["operation"] == "Boom"
    assert "hunter2" not in logs.text


class ExplodingExtension(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        raise RuntimeError("cannot reach 10.0.0.5 as admin")
        yield  # pragma: no cover


async def test_failures_inside_extension_hooks_are_masked_too(settings: Settings) -> None:
    extensions = [*schema_extensions(settings), ExplodingExtension]
    app = create_app(settings, schema=LedgerSchema(query=FailingQuery, extensions=extensions))
    async with app_lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            with capture_logs() as logs:
                response = await http.post("/graphql", json={"query": "{ forbidden }"})
    assert "10.0.0.5" not in response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL"
    assert "10.0.0.5" in logs.events("graphql_unexpected_error")[0]["exception"]


async def test_domain_errors_carry_their_code_status_and_retry_after(
    failing_client: httpx.AsyncClient,
) -> None:
    body = await graphql(failing_client, "{ locked }")
    [error] = body["errors"]
    assert error["message"] == AccountLocked.default_message
    assert error["extensions"]["code"] == "ACCOUNT_LOCKED"
    assert error["extensions"]["status"] == 423
    assert error["extensions"]["retryAfter"] == 90

    body = await graphql(failing_client, "{ forbidden }")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["errors"][0]["extensions"]["status"] == 403


async def test_user_error_payload_shape(failing_client: httpx.AsyncClient) -> None:
    body = await graphql(failing_client, "{ conflict { code message field } }")
    assert body["data"]["conflict"] == {
        "code": "CONFLICT",
        "message": "Username is taken",
        "field": ["input", "username"],
    }


async def test_long_scalar_accepts_safe_integers_and_rejects_others(
    failing_client: httpx.AsyncClient,
) -> None:
    query = "query Echo($v: Long!) { echoLong(value: $v) }"
    ok = await graphql(failing_client, query, {"v": 2**53 - 1})
    assert ok["data"] == {"echoLong": 2**53 - 1}
    for bad in (2**53, 1.5, "12", True):
        body = await graphql(failing_client, query, {"v": bad})
        assert "data" not in body
        assert body["errors"][0]["extensions"]["code"] == "VALIDATION_FAILED", body
        assert body["errors"][0]["extensions"]["status"] == 422
    literal = await graphql(failing_client, "{ echoLong(value: 1.5) }")
    assert literal["errors"][0]["extensions"]["code"] == "VALIDATION_FAILED", literal
    body = await graphql(failing_client, "{ tooLong }")
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL"


async def test_every_error_code_has_an_http_status() -> None:
    from graph.errors import HTTP_STATUS

    assert set(HTTP_STATUS) == set(ErrorCode)


async def test_readiness_is_503_when_migrations_are_pending(tmp_path: Path) -> None:
    app = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path}/empty.db", tmp_path))
    async with app_lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "migrations": "pending"},
    }


async def test_readiness_is_503_when_the_database_stops_answering(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = client._transport.app.state.database  # type: ignore[attr-defined]

    async def unreachable() -> None:
        raise ConnectionRefusedError

    monkeypatch.setattr(database, "ping", unreachable)
    response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unreachable"


async def test_startup_fails_with_a_clear_error_when_the_database_is_unreachable(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        "postgresql+asyncpg://nobody:x@127.0.0.1:9/nothing",
        tmp_path,
        database_connect_attempts=2,
        database_connect_retry_seconds=0.01,
    )
    with pytest.raises(DatabaseUnavailable, match="unreachable after 2 attempts"):
        async with app_lifespan(create_app(settings)):
            pass
