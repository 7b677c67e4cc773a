"""Start an application's lifespan in tests, with limits that hold on a loaded machine."""

from __future__ import annotations

from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp

# asgi-lifespan gives start-up and shutdown 5 s each by default: too little when a busy
# machine runs the suite in parallel. A lifespan that really hangs still fails, here or at
# pytest-timeout's limit.
LIFESPAN_TIMEOUT_SECONDS = 60.0


def app_lifespan(app: ASGIApp) -> LifespanManager:
    """A context manager running `app`'s lifespan start-up on entry and its shutdown on exit."""
    return LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT_SECONDS, shutdown_timeout=LIFESPAN_TIMEOUT_SECONDS
    )
