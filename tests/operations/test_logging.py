"""Logs: one structured line per request, and no secret ever written."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from core.logging import (
    REDACTED,
    configure_logging,
    get_logger,
    is_sensitive_key,
    redact,
    redact_text,
)
from tests.support.logs import capture_logs
from tests.support.queries import graphql

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
CARD = "4111 1111 1111 1111"


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "newPassword",
        "current_password",
        "accessToken",
        "refresh_token",
        "Authorization",
        "jwt_secret",
        "cardNumber",
        "card_number",
        "cvv",
        "api-key",
        "Cookie",
        "password_hash",
    ],
)
def test_sensitive_keys_are_recognised(key: str) -> None:
    assert is_sensitive_key(key)


@pytest.mark.parametrize("key", ["username", "email", "user_id", "company", "operation", "status"])
def test_ordinary_keys_are_left_alone(key: str) -> None:
    assert not is_sensitive_key(key)


def test_nested_values_are_redacted_by_key() -> None:
    event = {
        "variables": {
            "input": {"username": "ann", "password": "S3cret!pass", "cards": [{"cardNumber": CARD}]}
        },
        "headers": {"Authorization": f"Bearer {JWT}"},
    }
    cleaned = redact(event)
    assert cleaned["variables"]["input"] == {
        "username": "ann",
        "password": REDACTED,
        "cards": [{"cardNumber": REDACTED}],
    }
    assert cleaned["headers"] == {"Authorization": REDACTED}


def test_secrets_inside_free_text_are_masked() -> None:
    text = f"login failed for ann password=hunter2 with Bearer {JWT} via {CARD}, token: abc.def"
    cleaned = redact_text(text)
    for secret in ("hunter2", JWT, CARD, "abc.def"):
        assert secret not in cleaned
    assert cleaned.startswith("login failed for ann password=[REDACTED]")


def test_numbers_that_are_not_card_numbers_survive() -> None:
    assert redact_text("order 1234567890123 took 42 ms") == "order 1234567890123 took 42 ms"


def test_rendered_json_lines_are_redacted_end_to_end() -> None:
    configure_logging("INFO", json=True)
    with capture_logs() as logs:
        get_logger("test").info(
            "signup", username="ann", password="S3cret!pass", note=f"card {CARD}"
        )
        logging.getLogger("stdlib.lib").warning("Authorization: Bearer %s", JWT)
    assert "S3cret!pass" not in logs.text
    assert CARD.replace(" ", "") not in logs.text.replace(" ", "")
    assert JWT not in logs.text
    [signup] = logs.events("signup")
    assert signup["password"] == REDACTED
    assert signup["username"] == "ann"
    assert signup["level"] == "info"
    assert signup["timestamp"].endswith("Z")


async def test_one_access_line_per_request_without_credentials(client: httpx.AsyncClient) -> None:
    with capture_logs() as logs:
        response = await client.post(
            "/graphql",
            json={"query": "query Health { health { status } }", "variables": {"password": "x"}},
            headers={"authorization": f"Bearer {JWT}", "x-request-id": "req-000000001"},
        )
    assert response.status_code == 200
    [line] = logs.events("request")
    assert {key: line[key] for key in ("request_id", "operation", "method", "route", "status")} == {
        "request_id": "req-000000001",
        "operation": "Health",
        "method": "POST",
        "route": "/graphql",
        "status": 200,
    }
    assert line["user_id"] is None
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "info"
    assert JWT not in logs.text


async def test_graphql_errors_are_logged_with_request_id(client: httpx.AsyncClient) -> None:
    with capture_logs() as logs:
        body = await graphql(client, "query Bad { nope }")
    [line] = logs.events("request")
    assert line["request_id"] == body["extensions"]["requestId"]
    assert line["outcome"] == "rejected"
    assert json.dumps(line)
