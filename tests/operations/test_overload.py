"""Overload: when no pooled database connection comes free in time, clients get UNAVAILABLE."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from graph.app import create_app
from tests.conftest import make_settings
from tests.support.identity import gql, signed_in
from tests.support.lifespan import app_lifespan
from tests.support.logs import capture_logs


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_an_exhausted_pool_is_unavailable_with_retry_after_not_internal(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url, tmp_path, database_pool_size=1, database_max_overflow=0,
        database_pool_timeout_seconds=0.2,
    )  # fmt: skip
    app = create_app(settings)
    async with app_lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            user = await signed_in(client, "ann")
            held = await app.state.database.engine.connect()  # the pool's only connection
            try:
                with capture_logs() as logs:
                    body = await gql(client, "{ me { username } }", token=user.access_token)
            finally:
                await held.close()
            error = body["errors"][0]
            assert error["extensions"]["code"] == "UNAVAILABLE", body
            assert error["extensions"]["status"] == 503
            assert error["extensions"]["retryAfter"] >= 1
            assert "QueuePool" not in str(body)
            assert logs.events("database_pool_exhausted")
            assert not logs.events("graphql_unexpected_error")
            again = await gql(client, "{ me { username } }", token=user.access_token)
            assert again["data"] == {"me": {"username": "ann"}}
