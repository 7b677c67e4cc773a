"""Slow clients: requests that arrive too slowly are closed; connections past the cap are refused.

The in-process tests run uvicorn with `GuardedHttpProtocol` and short limits around a tiny ASGI
app (no database involved); the process test checks that `ledgerql serve` uses the protocol with
the limits from its environment.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import connect as ws_connect

from graph import http_server
from graph.http_server import ClientLimits, GuardedHttpProtocol
from tests.support.logs import capture_logs
from tests.support.processes import running_server, server_env
from tests.support.server import live_server

HALF_A_HEADER = b"POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: appl"
GET = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
WAIT = 5.0
"""Longest wait for something that must happen (it normally takes a fraction of that)."""


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer HTTP with the body's length; echo WebSocket text."""
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": message.get("text")})
        return
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = str(size).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(autouse=True)
async def _close_raw_clients() -> AsyncIterator[None]:
    yield
    for client in Raw.opened:
        client.close()
    Raw.opened.clear()


@asynccontextmanager
async def guarded_server(
    monkeypatch: pytest.MonkeyPatch, header: float = 0.5, body: float = 0.5, cap: int = 100
) -> AsyncIterator[tuple[str, int]]:
    """uvicorn with the guarded protocol and these limits; yields host and port."""
    monkeypatch.setattr(http_server, "client_limits", lambda: ClientLimits(header, body, cap))
    async with live_server(echo_length, http=GuardedHttpProtocol) as address:
        host, _, port = address.partition(":")
        yield host, int(port)


class Raw:
    """A raw TCP client: send bytes, read until the server closes."""

    opened: list[Raw] = []  # noqa: RUF012 - closed after each test

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        Raw.opened.append(self)

    @classmethod
    async def open(cls, host: str, port: int, data: bytes = b"") -> Raw:
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer)
        if data:
            await client.send(data)
        return client

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def until_closed(self, within: float = WAIT) -> bytes:
        """Everything the server sends until it closes; fails if it stays open `within` s."""
        try:
            async with asyncio.timeout(within):
                return await self.reader.read()
        except TimeoutError:
            msg = f"the server kept the connection open for {within}s"
            raise AssertionError(msg) from None

    async def response(self) -> bytes:
        """One response to a kept-alive request (headers and a short body)."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        return head + await asyncio.wait_for(self.reader.readexactly(length), WAIT)

    def close(self) -> None:
        self.writer.close()


async def test_half_a_header_is_answered_408_and_closed_after_the_header_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with guarded_server(monkeypatch, header=0.5) as (host, port):
        started = time.monotonic()
        slow = await Raw.open(host, port, HALF_A_HEADER)
        silent = await Raw.open(host, port)  # connects and sends nothing at all
        answers = [await slow.until_closed(), await silent.until_closed()]
        elapsed = time.monotonic() - started
        for answer in answers:
            assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
            assert b"connection: close" in answer
        assert elapsed >= 0.5, elapsed  # not before the deadline


async def test_a_kept_alive_connection_gets_the_header_deadline_for_each_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with guarded_server(monkeypatch, header=0.5) as (host, port):
        client = await Raw.open(host, port, GET)
        first = await client.response()
        assert first.startswith(b"HTTP/1.1 200 OK\r\n"), first
        await client.send(HALF_A_HEADER)  # the next request never completes
        assert (await client.until_closed()).startswith(b"HTTP/1.1 408 ")


async def test_a_body_that_arrives_too_slowly_is_closed_without_an_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with guarded_server(monkeypatch, header=5, body=0.5) as (host, port):
        header = b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n"
        slow = await Raw.open(host, port, header + b"0123456789")
        assert await slow.until_closed() == b""  # the application saw the client go away
        whole = await Raw.open(host, port, header + b"x" * 100)
        assert (await whole.response()).endswith(b"\r\n\r\n100")  # a complete body is served


async def test_the_api_lets_a_too_slow_body_go_without_an_error(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_server, "client_limits", lambda: ClientLimits(5, 0.3, 100))
    async with live_server(app, http=GuardedHttpProtocol) as address:
        host, _, port = address.partition(":")
        header = b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        with capture_logs() as logs:
            slow = await Raw.open(host, int(port), header + b"Content-Length: 99\r\n\r\n{")
            assert await slow.until_closed() == b""
            await asyncio.sleep(0.1)  # the application has seen the disconnect
        assert not logs.events("unhandled_exception"), logs.text
        [request] = logs.events("request")
        assert request["status"] == 499  # the client left: not a server error


async def test_connections_past_the_cap_get_503_and_are_closed_until_slow_ones_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with guarded_server(monkeypatch, header=1.5, cap=3) as (host, port):
        slow = [await Raw.open(host, port, HALF_A_HEADER) for _ in range(3)]
        await asyncio.sleep(0.1)  # the server has accepted them
        started = time.monotonic()
        refused = await Raw.open(host, port, GET)
        answer = await refused.until_closed()
        assert time.monotonic() - started < 1.0  # at once, not after the slow ones' deadline
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), answer
        assert b"retry-after: 1" in head
        assert json.loads(body)["errors"][0]["extensions"] == {"code": "UNAVAILABLE", "status": 503}
        for client in slow:
            assert (await client.until_closed()).startswith(b"HTTP/1.1 408 ")
        served = await Raw.open(host, port, GET)
        assert (await served.response()).endswith(b"\r\n\r\n0")


async def test_a_refused_client_that_never_reads_is_dropped_after_the_linger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http_server, "REFUSAL_LINGER_SECONDS", 0.2)
    async with guarded_server(monkeypatch, header=5, cap=1) as (host, port):
        held = await Raw.open(host, port, HALF_A_HEADER)
        await asyncio.sleep(0.1)
        refused = await Raw.open(host, port)
        assert (await refused.until_closed(within=2)).startswith(b"HTTP/1.1 503 ")
        held.close()


async def test_a_websocket_outlives_the_header_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    async with (
        guarded_server(monkeypatch, header=0.3, body=0.3) as (host, port),
        ws_connect(f"ws://{host}:{port}/") as ws,
    ):
        await asyncio.sleep(0.8)
        await ws.send("still here")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "still here"


def test_the_open_file_limit_is_raised_and_the_cap_kept_below_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(http_server.resource, "getrlimit", lambda _: (1024, 4096))
    monkeypatch.setattr(http_server.resource, "setrlimit", lambda _, limits: calls.append(limits))
    assert http_server.raise_open_file_limit() == 4096
    assert calls == [(4096, 4096)]

    def refuse(_: int, __: tuple[int, int]) -> None:
        raise ValueError("not allowed")

    monkeypatch.setattr(http_server.resource, "setrlimit", refuse)
    assert http_server.raise_open_file_limit() == 1024
    settings = http_server.get_settings().model_copy(update={"max_connections": 5000})
    assert ClientLimits.from_settings(settings).max_connections == 1024 - http_server.FD_RESERVE


@contextmanager
def served_by_ledgerql(tmp_path: Path, sqlite_template: Path, **env: str) -> Iterator[str]:
    """`ledgerql serve` on a copy of the migrated SQLite template; yields its base URL."""
    database = tmp_path / "ledger.db"
    shutil.copyfile(sqlite_template, database)
    environment = server_env(f"sqlite+aiosqlite:///{database}", tmp_path, **env)
    with running_server(environment, tmp_path / "server.log") as (_, base):
        yield base


@pytest.mark.slow
async def test_ledgerql_serve_closes_slow_clients_and_refuses_past_max_connections(
    tmp_path: Path, sqlite_template: Path
) -> None:
    limits = {
        "HTTP_HEADER_TIMEOUT_SECONDS": "1",
        "HTTP_BODY_TIMEOUT_SECONDS": "1",
        "MAX_CONNECTIONS": "4",
    }
    with served_by_ledgerql(tmp_path, sqlite_template, **limits) as base:
        host, port = base.removeprefix("http://").split(":")
        slow = [await Raw.open(host, int(port), HALF_A_HEADER) for _ in range(3)]
        header = b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        slow.append(await Raw.open(host, int(port), header + b"Content-Length: 99\r\n\r\n{"))
        await asyncio.sleep(0.2)
        refused = await Raw.open(host, int(port), GET)
        assert (await refused.until_closed()).startswith(b"HTTP/1.1 503 ")
        for client in slow[:3]:
            assert (await client.until_closed()).startswith(b"HTTP/1.1 408 ")
        assert await slow[3].until_closed() == b""  # the slow body: closed
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/health/live")).status_code == 200
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log, log
