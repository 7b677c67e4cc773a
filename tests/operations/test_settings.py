"""Settings come from the environment; deployed environments refuse weak secrets."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import AppEnv, Settings, SettingsError, describe_settings_error


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize("env", ["staging", "production"])
def test_deployed_environments_refuse_a_missing_secret(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    with pytest.raises(ValidationError, match="JWT_SECRET is missing or shorter than 32 bytes"):
        load(monkeypatch, APP_ENV=env)


def test_deployed_environments_refuse_a_weak_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="APP_ENV=production refuses to start") as caught:
        load(monkeypatch, APP_ENV="production", JWT_SECRET="x" * 31)
    described = describe_settings_error(caught.value)
    assert described.startswith("JWT_SECRET is missing or shorter than 32 bytes")
    assert "x" * 31 not in described


def test_a_strong_secret_is_accepted_and_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, APP_ENV="production", JWT_SECRET="s" * 32, AUDIT_HMAC_KEY="h" * 32)
    assert settings.signing_secret() == "s" * 32
    assert "s" * 32 not in repr(settings)
    assert settings.json_logs
    assert not settings.graphiql
    assert not settings.should_migrate_on_start


def test_local_secret_is_generated_once_and_shared(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    secret_file = tmp_path / "var" / "dev-secret"
    settings = load(monkeypatch, APP_ENV="local", DEV_SECRET_FILE=str(secret_file))
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(settings.signing_secret())) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert len(results[0]) >= 32
    assert secret_file.stat().st_mode & 0o777 == 0o600
    restarted = load(monkeypatch, APP_ENV="local", DEV_SECRET_FILE=str(secret_file))
    assert restarted.signing_secret() == results[0]


def test_defaults_for_a_new_local_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("APP_ENV", "DATABASE_URL", "LOG_FORMAT", "CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    settings = load(monkeypatch)
    assert settings.app_env is AppEnv.LOCAL
    assert settings.database_url == "sqlite+aiosqlite:///./var/ledgerql.db"
    assert settings.is_sqlite
    assert not settings.json_logs
    assert settings.graphiql
    assert settings.should_migrate_on_start
    assert settings.cors_origins == []


def test_lists_and_levels_are_parsed_from_text(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(
        monkeypatch,
        CORS_ORIGINS="https://a.example, https://b.example ,",
        LOG_LEVEL="debug",
        LOG_FORMAT="console",
        APP_ENV="staging",
        JWT_SECRET="k" * 40,
        AUDIT_HMAC_KEY="h" * 40,
    )
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.log_level == "DEBUG"
    assert not settings.json_logs


@pytest.mark.parametrize(
    ("name", "value"),
    [("DATABASE_URL", "mysql://x"), ("PORT", "0"), ("APP_ENV", "prod"), ("LOG_FORMAT", "xml")],
)
def test_invalid_values_are_rejected(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    with pytest.raises(ValidationError):
        load(monkeypatch, **{name: value})


def test_a_short_existing_dev_secret_file_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    secret_file = tmp_path / "short"
    secret_file.write_text("short\n")
    settings = load(monkeypatch, DEV_SECRET_FILE=str(secret_file))
    monkeypatch.setattr("core.settings.time.sleep", lambda _: None)
    with pytest.raises(SettingsError, match="shorter than 32 bytes"):
        settings.signing_secret()


def test_empty_values_mean_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, LOG_FORMAT="", METRICS_TOKEN="", GRAPHIQL_ENABLED="", PORT="")
    assert settings.log_format is None
    assert settings.metrics_token is None
    assert settings.graphiql_enabled is None
    assert settings.port == 8000


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CORS_ORIGINS", "example.com", r"must be '\*' or start with http"),
        ("METRICS_TOKEN", "short", "METRICS_TOKEN must be at least 32 bytes"),
        ("AUDIT_HMAC_KEY", "h" * 31, "AUDIT_HMAC_KEY must be at least 32 bytes"),
    ],
)
def test_unsafe_values_are_refused_at_load(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        load(monkeypatch, **{name: value})


@pytest.mark.parametrize("env", ["staging", "production"])
def test_deployed_environments_refuse_a_missing_audit_key(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.delenv("AUDIT_HMAC_KEY", raising=False)
    with pytest.raises(ValidationError, match="AUDIT_HMAC_KEY is missing") as caught:
        load(monkeypatch, APP_ENV=env, JWT_SECRET="s" * 32)
    assert "s" * 32 not in describe_settings_error(caught.value)


def test_audit_keys_come_from_settings_or_are_derived_locally(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AUDIT_HMAC_KEY", "AUDIT_HMAC_PREVIOUS_KEYS"):
        monkeypatch.delenv(name, raising=False)
    local = load(monkeypatch, APP_ENV="local", JWT_SECRET="s" * 32)
    derived, previous = local.audit_keys()
    assert (len(derived), previous) == (32, [])
    assert derived not in (b"s" * 32, local.card_fingerprint_key())
    assert load(monkeypatch, APP_ENV="local", JWT_SECRET="s" * 32).audit_keys()[0] == derived
    configured = load(
        monkeypatch, APP_ENV="production", JWT_SECRET="s" * 32, AUDIT_HMAC_KEY="n" * 32,
        AUDIT_HMAC_PREVIOUS_KEYS="o" * 32 + ", " + "p" * 32 + ",",
    )  # fmt: skip
    assert configured.audit_keys() == (b"n" * 32, [b"o" * 32, b"p" * 32])
    assert "n" * 32 not in repr(configured)
