"""Failed token authentications are audited: a row per address and minute, then a count."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select

from auth import token_failures
from auth.token_failures import TokenFailureTally
from auth.tokens import key_id
from core.settings import Settings
from db.base import utcnow
from db.models import AuditLog
from db.session import Database
from tests.conftest import TEST_SECRET
from tests.support.apps import app_with, code_of
from tests.support.identity import gql, signed_in
from tests.support.ws import CLOSE_FORBIDDEN, bearer, live_app, rejection_code

ME = "{ me { id } }"
TWO_PRIVATE_FIELDS = "{ a: me { id } b: me { username } }"
INVALID = "The token is invalid."
EXPIRED = "The token has expired."


async def rejections(database: Database) -> list[AuditLog]:
    """The TOKEN_REJECTED rows, oldest first."""
    statement = (
        select(AuditLog).where(AuditLog.action == "TOKEN_REJECTED").order_by(AuditLog.sequence)
    )
    async with database.unit_of_work() as uow, uow.read() as session:
        return list((await session.execute(statement)).scalars())


def forged_tokens(claims: dict[str, Any], settings: Settings) -> dict[str, str]:
    """An unsigned (alg none), a wrongly signed and an expired access token for `claims`."""
    kid = key_id(settings.signing_secret())
    expired = {**claims, "iat": claims["iat"] - 7200, "nbf": claims["nbf"] - 7200}
    expired["exp"] = claims["iat"] - 3600
    return {
        "none": jwt.encode(claims, None, algorithm="none", headers={"kid": kid}),
        "signature": jwt.encode(claims, "x" * 48, algorithm="HS256", headers={"kid": kid}),
        "expired": jwt.encode(expired, TEST_SECRET, algorithm="HS256", headers={"kid": kid}),
    }


def at_minute(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """Make the tally believe it is `moment`."""
    monkeypatch.setattr(token_failures, "utcnow", lambda: moment)


async def test_rejected_tokens_are_audited_once_per_address_and_minute_with_a_count(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = await signed_in(client, "mallory")
    claims = jwt.decode(user.access_token, options={"verify_signature": False})
    forged = forged_tokens(claims, settings)
    minute = utcnow().replace(second=0, microsecond=0)
    at_minute(monkeypatch, minute + timedelta(seconds=10))

    first = await gql(client, TWO_PRIVATE_FIELDS, token=forged["none"])
    assert code_of(first) == "UNAUTHENTICATED"
    [row] = await rejections(database)
    assert (row.status, row.user_id, row.ip_address, row.entity_type) == (
        "FAILURE", None, "127.0.0.1", "Token"
    )  # fmt: skip
    assert row.request_id == first["extensions"]["requestId"]
    # Two fields asked for the caller: one request, one failure.
    assert row.extra == {
        "source": "127.0.0.1", "minute": minute.isoformat(), "count": 1,
        "reasons": {INVALID: 1},
    }  # fmt: skip
    assert row.description == "a token was rejected"

    # A flood within the same minute adds no row.
    for _ in range(10):
        assert code_of(await gql(client, ME, token=forged["signature"])) == "UNAUTHENTICATED"
    assert code_of(await gql(client, ME, token=forged["expired"])) == "UNAUTHENTICATED"
    assert len(await rejections(database)) == 1

    # The next minute's first failure closes the last one: its count, then the new first row.
    at_minute(monkeypatch, minute + timedelta(seconds=70))
    assert code_of(await gql(client, ME, token=forged["expired"])) == "UNAUTHENTICATED"
    first_row, summary, next_first = await rejections(database)
    assert summary.extra == {
        "source": "127.0.0.1", "minute": minute.isoformat(), "count": 11,
        "reasons": {EXPIRED: 1, INVALID: 10},
    }  # fmt: skip
    assert summary.description == "11 more tokens were rejected in this minute"
    assert summary.ip_address == "127.0.0.1"
    next_minute = (minute + timedelta(minutes=1)).isoformat()
    assert next_first.extra == {
        "source": "127.0.0.1", "minute": next_minute, "count": 1, "reasons": {EXPIRED: 1},
    }  # fmt: skip
    # Nothing secret in the trail: the tokens themselves are never stored.
    for stored in (first_row, summary, next_first):
        for token in forged.values():
            assert token.split(".")[1] not in str(stored.extra)


async def test_the_last_minutes_count_is_written_at_shutdown(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at_minute(monkeypatch, utcnow().replace(second=30))
    async with app_with(database_url, tmp_path) as (client, app):
        for _ in range(3):
            assert code_of(await gql(client, ME, token="not.a.token")) == "UNAUTHENTICATED"
        assert len(await rejections(app.state.database)) == 1
    check = Database(app.state.settings)
    try:
        rows = await rejections(check)
    finally:
        await check.dispose()
    assert [row.extra["count"] for row in rows if row.extra] == [1, 2]


def test_beyond_the_source_limit_addresses_share_one_entry() -> None:
    tally = TokenFailureTally(max_sources=2)
    firsts = [tally.note(f"10.0.0.{n}", INVALID)[0] for n in range(5)]
    sources = [entry.metadata["source"] if entry and entry.metadata else None for entry in firsts]
    assert sources == ["10.0.0.0", "10.0.0.1", "*", None, None]
    closed = tally.close()
    assert [(row.ip_address, (row.metadata or {})["count"]) for row in closed] == [(None, 2)]
    assert [(row.metadata or {})["source"] for row in closed] == ["*"]
    assert tally.close() == []


async def test_a_failure_to_store_the_count_is_logged_and_not_raised(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    tally = TokenFailureTally()
    tally.note("10.0.0.1", INVALID)
    tally.note("10.0.0.1", INVALID)

    def broken() -> None:
        raise RuntimeError("database gone")

    monkeypatch.setattr(database, "unit_of_work", broken)
    closed = tally.close()
    assert [(row.ip_address, (row.metadata or {})["count"]) for row in closed] == [("10.0.0.1", 1)]
    await token_failures.store(database, closed)  # logged, not raised: the caller is refused anyway
    monkeypatch.undo()
    assert await rejections(database) == []


async def test_the_counts_of_many_addresses_are_stored_in_one_transaction(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    tally = TokenFailureTally()
    for n in range(50):
        tally.note(f"10.0.1.{n}", INVALID)
        tally.note(f"10.0.1.{n}", INVALID)
    units = 0
    opened = database.unit_of_work

    def counted() -> Any:
        nonlocal units
        units += 1
        return opened()

    monkeypatch.setattr(database, "unit_of_work", counted)
    await token_failures.store(database, tally.close())
    assert units == 1
    rows = await rejections(database)
    assert sorted(row.ip_address for row in rows) == sorted(f"10.0.1.{n}" for n in range(50))
    assert {row.extra["count"] for row in rows if row.extra} == {1}


async def test_a_websocket_refused_for_its_token_is_audited_too(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at_minute(monkeypatch, utcnow().replace(second=30))
    async with live_app(database_url, tmp_path) as live:
        for token in ("not.a.token", "still.not.one"):
            assert await rejection_code(live, bearer(token)) == CLOSE_FORBIDDEN
        assert await rejection_code(live, {}) == CLOSE_FORBIDDEN  # no token: nothing to audit
        [row] = await rejections(live.database)
    assert (row.action, row.ip_address, row.error_message) == (
        "TOKEN_REJECTED", "127.0.0.1", INVALID
    )  # fmt: skip
    assert row.extra is not None
    assert (row.extra["count"], row.extra["source"]) == (1, "127.0.0.1")
