"""In-process applications for tests that need their own settings, and checks of refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from core.settings import AppEnv
from graph.app import create_app
from tests.conftest import make_settings
from tests.support.identity import gql
from tests.support.lifespan import app_lifespan
from tests.support.queries import count_statements

# Settings overrides of a production deployment: strong secrets, everything else as shipped.
PRODUCTION: dict[str, Any] = {
    "app_env": AppEnv.PRODUCTION,
    "jwt_secret": "p" * 48,
    "audit_hmac_key": "h" * 48,
}


@asynccontextmanager
async def app_with(
    database_url: str, tmp_path: Path, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Starlette]]:
    """An in-process client of an app built with settings overrides, and the app."""
    app = create_app(make_settings(database_url, tmp_path, **overrides))
    async with app_lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client, app


def code_of(body: dict[str, Any]) -> str:
    """The code of the first top-level error (failing if there is none)."""
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


async def refused_without_sql(
    client: httpx.AsyncClient,
    app: Starlette,
    query: str,
    token: str | None = None,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """POST `query`, assert it ran no SQL statement at all and was refused; return the body."""
    with count_statements(app.state.database.engine) as counter:
        body = await gql(client, query, variables, token=token)
    assert counter.count == 0, counter.statements
    assert "data" not in body or body["data"] is None, body
    return body
