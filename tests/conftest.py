"""Fixtures: every database test runs on SQLite and on PostgreSQL, each in a fresh database.

Databases are built by running the migrations once per backend into a template; each test
gets a copy (SQLite: a file copy; PostgreSQL: CREATE DATABASE ... TEMPLATE, made while the
previous test runs), so tests are isolated without depending on rollbacks. Under pytest-xdist
every worker is its own session: its own PostgreSQL cluster, templates and databases.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import strawberry
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

import graph.app
from core.settings import AppEnv, Settings
from db.migrations import upgrade_to_head
from db.session import Database
from graph.app import create_app
from graph.schema import build_schema
from tests.support.lifespan import app_lifespan
from tests.support.postgres import (
    PostgresUnavailable,
    TestDatabases,
    ThrowawayPostgres,
    asyncpg_dsn,
)

BACKENDS = ["sqlite", "postgresql"]
UNLIMITED_RATES = (
    "rate_limit_login",
    "rate_limit_login_failures",
    "rate_limit_register",
    "rate_limit_refresh",
    "rate_limit_password_change",
)
TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-signing"


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test, independent of the developer's environment and .env file."""
    values: dict[str, Any] = {
        "app_env": AppEnv.TEST,
        "database_url": database_url,
        "jwt_secret": TEST_SECRET,
        "dev_secret_file": tmp_path / "dev-secret",
        "database_connect_attempts": 1,
        "database_connect_retry_seconds": 0,
        "log_format": "json",
        "bcrypt_rounds": 4,
        # Suites sign many users in from one address; tests of the limits set their own.
        **dict.fromkeys(UNLIMITED_RATES, "1000000/1"),
        "graphql_cost_budget": "1000000000/1",
        "graphql_max_cost": 1_000_000,
    }
    values.update(overrides)
    if values["app_env"] is not AppEnv.TEST and "bcrypt_rounds" not in overrides:
        values["bcrypt_rounds"] = 12  # cheap hashing is refused outside APP_ENV=test
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def _admin_execute(admin_url: str, *statements: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session", autouse=True)
def _one_schema_per_configuration() -> Iterator[None]:
    """Apps built with the same settings share one schema, as the apps of one server do.

    Building the Strawberry schema is the costliest part of `create_app`, and tests build
    hundreds of apps. The key is every setting except the per-test database and secret file,
    so an app with any other setting changed still gets a schema built for it.
    """
    schemas: dict[str, strawberry.Schema] = {}

    def schema_for(settings: Settings) -> strawberry.Schema:
        key = settings.model_dump_json(exclude={"database_url", "dev_secret_file"})
        if key not in schemas:
            schemas[key] = build_schema(settings)
        return schemas[key]

    patch = pytest.MonkeyPatch()
    patch.setattr(graph.app, "build_schema", schema_for)
    try:
        yield
    finally:
        patch.undo()


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """An admin URL to a PostgreSQL server: TEST_POSTGRES_URL, or a throwaway cluster."""
    configured = os.environ.get("TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    try:
        cluster = ThrowawayPostgres()
        url = cluster.start()
    except PostgresUnavailable as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required in CI and could not be started: {error}")
        pytest.skip(f"PostgreSQL unavailable: {error}")
    try:
        yield url
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head, copied for each test."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> str:
    """A PostgreSQL database migrated to head, used as the TEMPLATE of each test database."""
    name = f"ledgerql_template_{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=1) as executor:  # a test's event loop may be running
        create = _admin_execute(postgres_admin_url, f'CREATE DATABASE "{name}"')
        executor.submit(asyncio.run, create).result()
    upgrade_to_head(make_url(postgres_admin_url).set(database=name).render_as_string(False))
    return name


@pytest.fixture(scope="session")
def postgres_databases(postgres_admin_url: str, postgres_template: str) -> Iterator[TestDatabases]:
    """Fresh copies of the PostgreSQL template, one per test, made one test ahead."""
    databases = TestDatabases(postgres_admin_url, postgres_template)
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test run: `sqlite` or `postgresql`."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    admin_url: str = request.getfixturevalue("postgres_admin_url")
    databases: TestDatabases = request.getfixturevalue("postgres_databases")
    name = databases.take()
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        databases.drop(name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Test settings pointing at this test's database."""
    return make_settings(database_url, tmp_path)


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The engine and session factories for this test's database."""
    db = Database(settings)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    """The application with its lifespan running."""
    application = create_app(settings)
    async with app_lifespan(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
