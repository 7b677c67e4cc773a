"""Application settings: one pydantic-settings object read from environment variables."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_SECRET_BYTES = 32
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class AppEnv(StrEnum):
    """Deployment environment; decides secrets policy, log format defaults and GraphiQL."""

    LOCAL = "local"
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"
    TEST = "test"

    @property
    def is_deployed(self) -> bool:
        """Whether this is a shared deployment that must never run on generated secrets."""
        return self in (AppEnv.STAGING, AppEnv.PRODUCTION)


class AuditReads(StrEnum):
    """Which reads write audit rows."""

    SENSITIVE = "sensitive"  # other users' profiles, audit logs, statements, card details
    ALL = "all"  # every query operation of a signed-in caller, plus the sensitive ones
    NONE = "none"


class RateLimitBackend(StrEnum):
    """Where rate-limit counters live."""

    AUTO = "auto"  # database on PostgreSQL (shared by every instance), memory on SQLite
    MEMORY = "memory"  # this process only
    DATABASE = "database"  # the rate_limit_counters table


MIN_ACCESS_TOKEN_TTL_SECONDS = 60
MIN_TEST_ACCESS_TOKEN_TTL_SECONDS = 5
"""The lower bound of ACCESS_TOKEN_TTL_SECONDS outside staging/production (to try expiry)."""

LIMIT_PATTERN = r"^[1-9][0-9]*/[1-9][0-9]*$"
"""A rate limit written as HITS/SECONDS, e.g. 5/900."""


class SettingsError(ValueError):
    """Configuration that must stop start-up, with a message meant for the operator."""


class Settings(BaseSettings):
    """Every runtime setting of LedgerQL; `.env.example` documents each variable."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # `NAME=` in a .env file means "use the default"
        extra="ignore",
        frozen=True,
    )

    app_env: AppEnv = AppEnv.LOCAL
    database_url: str = "sqlite+aiosqlite:///./var/ledgerql.db"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_max_overflow: int = Field(default=10, ge=0, le=200)
    database_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    database_command_timeout_seconds: float = Field(default=30.0, gt=0)
    database_connect_attempts: int = Field(default=5, ge=1, le=60)
    database_connect_retry_seconds: float = Field(default=1.0, ge=0)
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    health_ready_timeout_seconds: float = Field(default=0.8, gt=0, le=60)
    migrate_on_start: bool | None = None

    jwt_secret: SecretStr | None = None
    jwt_previous_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    dev_secret_file: Path = PROJECT_ROOT / "var" / "dev-jwt-secret"
    jwt_issuer: str = "ledgerql"
    jwt_audience: str = "ledgerql-api"
    access_token_ttl_seconds: int = Field(
        default=1800, ge=MIN_TEST_ACCESS_TOKEN_TTL_SECONDS, le=86_400
    )
    refresh_token_ttl_seconds: int = Field(default=604_800, ge=3600, le=7_776_000)
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)
    password_hash_niceness: int = Field(default=10, ge=0, le=19)
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_lockout_seconds: int = Field(default=900, ge=1, le=86_400)
    audit_reads: AuditReads = AuditReads.SENSITIVE
    rate_limit_backend: RateLimitBackend = RateLimitBackend.AUTO
    rate_limit_login: str = Field(default="5/900", pattern=LIMIT_PATTERN)
    rate_limit_login_failures: str = Field(default="20/900", pattern=LIMIT_PATTERN)
    rate_limit_register: str = Field(default="100/3600", pattern=LIMIT_PATTERN)
    rate_limit_refresh: str = Field(default="10/3600", pattern=LIMIT_PATTERN)
    rate_limit_password_change: str = Field(default="3/3600", pattern=LIMIT_PATTERN)
    card_fingerprint_secret: SecretStr | None = None
    audit_hmac_key: SecretStr | None = None
    audit_hmac_previous_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    audit_checkpoint_file: Path | None = None
    audit_legacy_until_sequence: int = Field(default=0, ge=0)
    audit_checkpoint_interval_seconds: float = Field(default=3600, ge=0)

    metrics_token: SecretStr | None = None

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    http_header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    http_body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    max_connections: int = Field(default=2048, ge=1, le=1_000_000)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] | None = None

    graphiql_enabled: bool | None = None
    console_enabled: bool | None = None
    graphql_introspection: bool | None = None
    graphql_max_depth: int = Field(default=12, ge=1, le=100)
    graphql_max_aliases: int = Field(default=30, ge=1, le=1000)
    graphql_max_fields: int = Field(default=500, ge=1, le=100_000)
    graphql_max_field_repeats: int = Field(default=20, ge=1, le=10_000)
    graphql_max_tokens: int = Field(default=2000, ge=50, le=100_000)
    graphql_max_cost: int = Field(default=1000, ge=1, le=10_000_000)
    graphql_max_operations: int = Field(default=10, ge=1, le=1000)
    graphql_max_root_mutation_fields: int = Field(default=10, ge=1, le=1000)
    graphql_max_list_items: int = Field(default=100, ge=1, le=100_000)
    graphql_cost_budget: str = Field(default="20000/60", pattern=LIMIT_PATTERN)
    graphql_cache_size: int = Field(default=256, ge=1, le=100_000)
    response_cache: bool = True
    response_cache_bytes: int = Field(default=32 * 1024 * 1024, ge=0, le=16 * 1024**3)
    ws_max_subscriptions: int = Field(default=10, ge=1, le=1000)
    ws_connection_init_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    ws_max_message_bytes: int = Field(default=65_536, ge=1024, le=16_777_216)

    @field_validator(
        "cors_origins",
        "trusted_proxies",
        "jwt_previous_secrets",
        "audit_hmac_previous_keys",
        mode="before",
    )
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_urls(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                msg = f"CORS origin {origin!r} must be '*' or start with http:// or https://"
                raise ValueError(msg)
        return value

    @field_validator("metrics_token")
    @classmethod
    def _strong_metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            msg = f"METRICS_TOKEN must be at least {MIN_SECRET_BYTES} bytes"
            raise ValueError(msg)
        return value

    @field_validator("audit_hmac_key")
    @classmethod
    def _strong_audit_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and 0 < len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            msg = f"AUDIT_HMAC_KEY must be at least {MIN_SECRET_BYTES} bytes"
            raise ValueError(msg)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            msg = "DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _secret_policy(self) -> Settings:
        if self.bcrypt_rounds < 12 and self.app_env is not AppEnv.TEST:
            msg = "BCRYPT_ROUNDS below 12 is only allowed with APP_ENV=test"
            raise ValueError(msg)
        if not self.app_env.is_deployed:
            return self
        if self.access_token_ttl_seconds < MIN_ACCESS_TOKEN_TTL_SECONDS:
            msg = (
                f"ACCESS_TOKEN_TTL_SECONDS below {MIN_ACCESS_TOKEN_TTL_SECONDS} is only allowed "
                "with APP_ENV=test, local or development"
            )
            raise ValueError(msg)
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
        if len(secret.encode()) < MIN_SECRET_BYTES:
            msg = (
                f"JWT_SECRET is missing or shorter than {MIN_SECRET_BYTES} bytes; "
                f"APP_ENV={self.app_env.value} refuses to start without a strong secret. "
                'Generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'
            )
            raise ValueError(msg)
        if self.audit_hmac_key is None or not self.audit_hmac_key.get_secret_value():
            msg = (
                f"AUDIT_HMAC_KEY is missing; APP_ENV={self.app_env.value} refuses to start "
                "without the key of the audit trail's hashes (at least "
                f"{MIN_SECRET_BYTES} bytes, kept outside the database)"
            )
            raise ValueError(msg)
        return self

    @property
    def is_sqlite(self) -> bool:
        """Whether the configured database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def json_logs(self) -> bool:
        """Whether logs are rendered as JSON (the default outside local development)."""
        if self.log_format is not None:
            return self.log_format == "json"
        return self.app_env not in (AppEnv.LOCAL, AppEnv.TEST)

    @property
    def graphiql(self) -> bool:
        """Whether GraphiQL is served; never in production."""
        if self.app_env is AppEnv.PRODUCTION:
            return False
        return True if self.graphiql_enabled is None else self.graphiql_enabled

    @property
    def console(self) -> bool:
        """Whether the web console is served at `/`: CONSOLE_ENABLED, else outside production."""
        if self.console_enabled is not None:
            return self.console_enabled
        return self.app_env is not AppEnv.PRODUCTION

    @property
    def introspection(self) -> bool:
        """Whether introspection (and "Did you mean" suggestions) is on; off in production."""
        if self.graphql_introspection is not None:
            return self.graphql_introspection
        return self.app_env is not AppEnv.PRODUCTION

    @property
    def should_migrate_on_start(self) -> bool:
        """Whether `serve` upgrades the schema itself (default: outside staging/production)."""
        if self.migrate_on_start is not None:
            return self.migrate_on_start
        return not self.app_env.is_deployed

    def card_fingerprint_key(self) -> bytes:
        """The HMAC key of card-number fingerprints (CARD_FINGERPRINT_SECRET, else derived)."""
        if (
            self.card_fingerprint_secret is not None
            and self.card_fingerprint_secret.get_secret_value()
        ):
            return self.card_fingerprint_secret.get_secret_value().encode()
        return hmac.new(
            self.signing_secret().encode(), b"ledgerql card fingerprint v1", hashlib.sha256
        ).digest()

    def audit_keys(self) -> tuple[bytes, list[bytes]]:
        """The audit trail's HMAC key and the retired ones (AUDIT_HMAC_KEY, else derived)."""
        previous = [key.get_secret_value().encode() for key in self.audit_hmac_previous_keys]
        if self.audit_hmac_key is not None and self.audit_hmac_key.get_secret_value():
            return self.audit_hmac_key.get_secret_value().encode(), previous
        derived = hmac.new(
            self.signing_secret().encode(), b"ledgerql audit hmac v1", hashlib.sha256
        ).digest()
        return derived, previous

    def signing_secret(self) -> str:
        """The JWT signing secret; locally a generated one, persisted so restarts agree."""
        if self.jwt_secret is not None and self.jwt_secret.get_secret_value():
            return self.jwt_secret.get_secret_value()
        return _load_or_create_dev_secret(self.dev_secret_file)


def _load_or_create_dev_secret(path: Path) -> str:
    """Read the local development secret, creating it exactly once even with several workers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another worker may have created the file an instant ago and still be writing it.
        for _ in range(50):
            existing = path.read_text(encoding="utf-8").strip()
            if len(existing.encode()) >= MIN_SECRET_BYTES:
                return existing
            time.sleep(0.02)
        msg = f"{path} holds a development secret shorter than {MIN_SECRET_BYTES} bytes"
        raise SettingsError(msg) from None
    generated = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(generated + "\n")
    return generated


def describe_settings_error(error: ValidationError) -> str:
    """A readable account of invalid settings that never echoes the values given."""
    lines = []
    for problem in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in problem["loc"]).upper()
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return "; ".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
