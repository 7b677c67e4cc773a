"""CONSOLE_ENABLED and the short access-token lifetimes allowed outside staging/production."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.settings import Settings

DEPLOYED_SECRETS = {"JWT_SECRET": "s" * 40, "AUDIT_HMAC_KEY": "h" * 40}


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("env", "enabled", "served"),
    [
        ("local", "", True),
        ("test", "", True),
        ("development", "false", False),
        ("staging", "", True),
        ("production", "", False),
        ("production", "true", True),
    ],
)
def test_the_console_is_served_outside_production_unless_configured(
    monkeypatch: pytest.MonkeyPatch, env: str, enabled: str, served: bool
) -> None:
    settings = load(monkeypatch, APP_ENV=env, CONSOLE_ENABLED=enabled, **DEPLOYED_SECRETS)
    assert settings.console is served


@pytest.mark.parametrize("env", ["test", "local", "development"])
def test_short_access_tokens_are_allowed_to_try_expiry_locally(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    settings = load(monkeypatch, APP_ENV=env, ACCESS_TOKEN_TTL_SECONDS="5")
    assert settings.access_token_ttl_seconds == 5
    with pytest.raises(ValidationError, match="greater than or equal to 5"):
        load(monkeypatch, APP_ENV=env, ACCESS_TOKEN_TTL_SECONDS="4")


@pytest.mark.parametrize("env", ["staging", "production"])
def test_deployed_access_tokens_live_at_least_a_minute(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    message = "ACCESS_TOKEN_TTL_SECONDS below 60 is only allowed with APP_ENV=test"
    with pytest.raises(ValidationError, match=message):
        load(monkeypatch, APP_ENV=env, ACCESS_TOKEN_TTL_SECONDS="59", **DEPLOYED_SECRETS)
    settings = load(monkeypatch, APP_ENV=env, ACCESS_TOKEN_TTL_SECONDS="60", **DEPLOYED_SECRETS)
    assert settings.access_token_ttl_seconds == 60
