"""Helpers for WebSocket tests: a live server and a graphql-transport-ws client on `websockets`.

The server runs in the test's own event loop (uvicorn on a loopback port), so a test can also
watch the application's audit event bus: `BusSubscribers` counts who is listening on it (each
connection's guard and each `auditEvents` operation), which tells a test when a subscription is
really in place, since graphql-transport-ws has no acknowledgement for `subscribe`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from sqlalchemy import func, select
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from auth.tokens import TokenService, TokenType
from core.settings import Settings
from db.audit.events import AuditEventBus, Subscription
from db.models import AuditLog
from db.session import Database
from graph.app import create_app
from tests.conftest import make_settings
from tests.support.identity import SignedIn
from tests.support.lifespan import app_lifespan
from tests.support.server import live_server

PROTOCOL = "graphql-transport-ws"
RECEIVE_TIMEOUT = 3.0
"""Longest wait for a message that must come (generous; it normally takes milliseconds)."""

CLOSE_EXPIRED = 4401
CLOSE_FORBIDDEN = 4403

EVENT_FIELDS = "sequence action entityType entityId status user { username }"
EVENTS = f"""
subscription Events($filter: AuditLogFilter) {{ auditEvents(filter: $filter) {{ {EVENT_FIELDS} }} }}
"""


class BusSubscribers:
    """Counts the live subscriptions of an audit event bus, by wrapping its `subscribe`."""

    def __init__(self, bus: AuditEventBus) -> None:
        self.active = 0
        self._changed = asyncio.Event()
        original = bus.subscribe

        @asynccontextmanager
        async def counted() -> AsyncIterator[Subscription]:
            async with original() as subscription:
                self._count(+1)
                try:
                    yield subscription
                finally:
                    self._count(-1)

        bus.subscribe = counted  # type: ignore[method-assign]

    def _count(self, change: int) -> None:
        self.active += change
        self._changed.set()

    async def reach(self, count: int, within: float = RECEIVE_TIMEOUT) -> None:
        """Wait until exactly `count` subscriptions are listening."""
        try:
            async with asyncio.timeout(within):
                while self.active != count:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            msg = f"expected {count} bus subscribers, have {self.active}"
            raise AssertionError(msg) from None


@dataclass
class LiveApp:
    """A running application: its WebSocket URL, an HTTP client, and its event bus listeners."""

    app: Starlette
    ws_url: str
    http: httpx.AsyncClient
    subscribers: BusSubscribers

    @property
    def settings(self) -> Settings:
        settings: Settings = self.app.state.settings
        return settings

    @property
    def database(self) -> Database:
        database: Database = self.app.state.database
        return database

    def connect(self) -> ws_connect:
        """A WebSocket client speaking graphql-transport-ws (use with `async with`)."""
        return ws_connect(self.ws_url, subprotocols=[Subprotocol(PROTOCOL)])


@asynccontextmanager
async def live_app(database_url: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[LiveApp]:
    """The application with test settings (plus `overrides`) under a real uvicorn server."""
    app = create_app(make_settings(database_url, tmp_path, **overrides))
    subscribers = BusSubscribers(app.state.database.events)
    async with (
        app_lifespan(app),
        live_server(app) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        yield LiveApp(app=app, ws_url=f"ws://{address}/graphql", http=http, subscribers=subscribers)


def bearer(token: str) -> dict[str, str]:
    """A `connection_init` payload carrying an access token."""
    return {"authorization": f"Bearer {token}"}


async def receive(ws: ClientConnection, within: float = RECEIVE_TIMEOUT) -> dict[str, Any]:
    """The next message, decoded; fails after `within` seconds."""
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(decode=True), within))
    return message


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


async def init(ws: ClientConnection, payload: dict[str, Any]) -> None:
    """Send `connection_init` and expect a bare `connection_ack`."""
    await send(ws, {"type": "connection_init", "payload": payload})
    assert await receive(ws) == {"type": "connection_ack"}


async def subscribe(
    ws: ClientConnection, operation_id: str, query: str, variables: dict[str, Any] | None = None
) -> None:
    payload: dict[str, Any] = {"query": query}
    if variables is not None:
        payload["variables"] = variables
    await send(ws, {"id": operation_id, "type": "subscribe", "payload": payload})


async def run(ws: ClientConnection, operation_id: str, query: str) -> dict[str, Any]:
    """Run a query over the connection; returns its single result payload."""
    await subscribe(ws, operation_id, query)
    message = await receive(ws)
    assert message["id"] == operation_id, message
    assert message["type"] == "next", message
    assert await receive(ws) == {"id": operation_id, "type": "complete"}
    payload: dict[str, Any] = message["payload"]
    return payload


async def closed_with(
    ws: ClientConnection, within: float = RECEIVE_TIMEOUT
) -> tuple[int, list[dict[str, Any]]]:
    """Wait for the server to close the connection: its close code and what came before it."""
    before: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(within):
            while True:
                before.append(json.loads(await ws.recv(decode=True)))
    except ConnectionClosed as closed:
        received = closed.rcvd
    except TimeoutError:
        msg = f"the connection was still open after {within}s (received {before})"
        raise AssertionError(msg) from None
    assert received is not None, "the server did not send a close frame"
    return received.code, before


async def rejection_code(live: LiveApp, payload: Any) -> int:
    """Open a connection with this `connection_init` payload; the close code it gets instead."""
    async with live.connect() as ws:
        await send(ws, {"type": "connection_init", "payload": payload})
        code, before = await closed_with(ws)
    assert before == [], before  # no connection_ack, nothing else
    return code


async def audit_head(database: Database) -> int:
    """The sequence of the newest committed audit row (0 when there is none)."""
    async with database.unit_of_work() as uow, uow.read() as session:
        head = (await session.execute(select(func.max(AuditLog.sequence)))).scalar_one()
    return int(head or 0)


def token_expiring_in(settings: Settings, user: SignedIn, seconds: int) -> tuple[str, float]:
    """A new access token for the user's session that expires sooner than settings allow.

    Returns the token and its expiry as a POSIX timestamp (whole seconds, as in the JWT).
    """
    session_id = TokenService(settings).verify(user.access_token, TokenType.ACCESS).session_id
    short = TokenService(settings.model_copy(update={"access_token_ttl_seconds": seconds}))
    token = short.issue(TokenType.ACCESS, user.user_id, session_id).token
    expires_at = jwt.decode(token, options={"verify_signature": False})["exp"]
    return token, float(expires_at)


@dataclass
class EventFeed:
    """One `auditEvents` operation on a connection, read event by event.

    Rows committed before the subscription was in place (sequence <= `after`) may still be on
    their way through the bus when it starts; they are skipped. Every event read must carry a
    higher sequence than the one before.
    """

    ws: ClientConnection
    operation_id: str
    after: int
    received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last(self) -> int:
        return int(self.received[-1]["sequence"]) if self.received else self.after

    async def _event(self) -> dict[str, Any]:
        message = json.loads(await self.ws.recv(decode=True))
        assert message.get("id") == self.operation_id, message
        assert message.get("type") == "next", message
        assert "errors" not in message["payload"], message
        event: dict[str, Any] = message["payload"]["data"]["auditEvents"]
        return event

    async def next(self, within: float = RECEIVE_TIMEOUT) -> dict[str, Any]:
        """The next event committed after the subscription started."""
        async with asyncio.timeout(within):
            while True:
                event = await self._event()
                if event["sequence"] <= self.after:
                    continue
                assert event["sequence"] > self.last, (event, self.received)
                self.received.append(event)
                return event

    async def silent(self, seconds: float = 0.5) -> None:
        """Nothing new arrives for `seconds`."""
        try:
            async with asyncio.timeout(seconds):
                while True:
                    event = await self._event()
                    assert event["sequence"] <= self.after, f"unexpected event {event}"
        except TimeoutError:
            return


async def follow(
    live: LiveApp,
    ws: ClientConnection,
    filter: dict[str, Any] | None = None,
    operation_id: str = "events",
) -> EventFeed:
    """Subscribe to `auditEvents` on an acknowledged connection, once it listens on the bus."""
    listening = live.subscribers.active
    await subscribe(ws, operation_id, EVENTS, {"filter": filter})
    await live.subscribers.reach(listening + 1)
    return EventFeed(ws, operation_id, after=await audit_head(live.database))


async def open_as(live: LiveApp, ws: ClientConnection, token: str) -> None:
    """Acknowledge a connection for this access token, and wait until its guard listens."""
    listening = live.subscribers.active
    await init(ws, bearer(token))
    await live.subscribers.reach(listening + 1)
