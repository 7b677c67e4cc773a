"""The Starlette application: routes, middleware and the lifespan that owns the engine."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import strawberry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from auth import token_failures
from auth.passwords import PasswordHasher
from auth.service import AuthService
from auth.tokens import TokenService
from core.logging import configure_logging, get_logger
from core.settings import RateLimitBackend, Settings, get_settings
from db.migrations import is_at_head
from db.outages import OUTAGE_RETRY_SECONDS
from db.rate_limits import Counters, DatabaseCounters, MemoryCounters
from db.session import Database, DatabaseUnavailable
from graph.audit.checkpoint_task import checkpoint_schedule
from graph.console import console_routes
from graph.graphiql import ASSETS_PATH, graphiql_assets
from graph.metrics import Metrics
from graph.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from graph.schema import build_schema
from graph.view import LedgerGraphQL

log = get_logger(__name__)


async def live(_: Request) -> JSONResponse:
    """The process is up and serving."""
    return JSONResponse({"status": "ok"})


_abandoned: set[asyncio.Task[dict[str, str]]] = set()
"""Timed-out readiness probes still winding down (kept referenced until they finish)."""


async def _readiness_checks(database: Database) -> dict[str, str]:
    try:
        await database.ping()
        at_head = await is_at_head(database.engine)
    except Exception as error:
        log.warning("readiness_database_failed", error=type(error).__name__)
        return {"database": "unreachable", "migrations": "unknown"}
    return {"database": "ok", "migrations": "ok" if at_head else "pending"}


async def ready(request: Request) -> JSONResponse:
    """The database answers and its schema is at the latest migration; 503 otherwise.

    Bounded by HEALTH_READY_TIMEOUT_SECONDS, far below the pool timeout: a database that hangs
    or a pool with no free connection makes the probe fail fast instead of queueing.
    """
    database: Database = request.app.state.database
    settings: Settings = request.app.state.settings
    probe = asyncio.create_task(_readiness_checks(database))
    # asyncio.wait, not asyncio.timeout: cancelling a probe stuck on a frozen database may
    # itself wait on the network, and the answer must not wait for that clean-up.
    done, _ = await asyncio.wait({probe}, timeout=settings.health_ready_timeout_seconds)
    if done:
        checks = probe.result()
    else:
        probe.cancel()
        _abandoned.add(probe)
        probe.add_done_callback(_abandoned.discard)
        log.warning("readiness_timed_out", seconds=settings.health_ready_timeout_seconds)
        checks = {"database": "timeout", "migrations": "unknown"}
    ok = checks == {"database": "ok", "migrations": "ok"}
    body = {"status": "ready" if ok else "unavailable", "checks": checks}
    headers = None if ok else {"retry-after": str(OUTAGE_RETRY_SECONDS)}
    return JSONResponse(body, status_code=200 if ok else 503, headers=headers)


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus metrics; behind a bearer token when METRICS_TOKEN is set."""
    settings: Settings = request.app.state.settings
    if settings.metrics_token is not None:
        expected = f"Bearer {settings.metrics_token.get_secret_value()}"
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.render(), media_type=metrics.content_type)


def build_auth_service(settings: Settings) -> AuthService:
    """The identity service with its password hasher and token keys."""
    hasher = PasswordHasher(
        settings.bcrypt_rounds, settings.password_hash_concurrency, settings.password_hash_niceness
    )
    return AuthService(settings, hasher, TokenService(settings))


def build_rate_limits(settings: Settings, database: Database) -> Counters:
    """Rate-limit counters: shared in the database on PostgreSQL, in memory on SQLite."""
    backend = settings.rate_limit_backend
    if backend is RateLimitBackend.AUTO:
        backend = RateLimitBackend.MEMORY if settings.is_sqlite else RateLimitBackend.DATABASE
    return MemoryCounters() if backend is RateLimitBackend.MEMORY else DatabaseCounters(database)


def create_app(
    settings: Settings | None = None, schema: strawberry.Schema | None = None
) -> Starlette:
    """Build a LedgerQL ASGI application (uvicorn calls this as a factory)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, json=settings.json_logs)
    database = Database(settings)
    metrics = Metrics()
    auth = build_auth_service(settings)
    view = LedgerGraphQL(
        schema or build_schema(settings),
        settings=settings, database=database, metrics=metrics, auth=auth,
        rate_limits=build_rate_limits(settings, database),
        cost_budgets=MemoryCounters(),  # per instance: no database round trip per request
    )  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await database.wait_until_reachable(
                settings.database_connect_attempts, settings.database_connect_retry_seconds
            )
        except DatabaseUnavailable as error:
            log.error("startup_failed", reason=str(error))
            await database.dispose()
            raise
        await auth.hasher.prepare()
        await database.events.start()
        log.info("startup_complete", env=settings.app_env.value, database=database.dialect)
        try:
            async with checkpoint_schedule(database, settings):
                yield
        finally:
            await database.events.stop()
            await token_failures.store(database, auth.token_failures.close())
            await database.dispose()
            auth.hasher.close()
            log.info("shutdown_complete")

    routes: list[BaseRoute] = [
        Route("/health/live", live, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/graphql", view),
        WebSocketRoute("/graphql", view),
    ]
    if settings.console:
        routes += console_routes()
    if settings.graphiql:
        routes.append(Mount(ASSETS_PATH, app=graphiql_assets(), name="graphiql"))
    middleware = [
        Middleware(RequestContextMiddleware, metrics=metrics),
        Middleware(SecurityHeadersMiddleware, hsts=settings.app_env.is_deployed),
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-Request-ID",
                "GraphQL-Require-Preflight",
            ],
            expose_headers=["X-Request-ID"],
            max_age=600,
        ),
        Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.settings = settings
    app.state.database = database
    app.state.metrics = metrics
    return app
