"""uvicorn's HTTP protocol with deadlines for slow clients and a cap on open connections.

Written here because uvicorn (0.54) has neither: a connection that sends half a request header,
or a body byte now and then, keeps its socket (a file descriptor) for as long as it likes, and
its `limit_concurrency` only answers once a complete header has arrived. This protocol

* closes a connection whose request header is not complete within HTTP_HEADER_TIMEOUT_SECONDS
  of the connection opening (or of the request's first byte, on a kept-alive connection), with
  `408 Request Timeout`;
* closes a connection whose request body is not complete within HTTP_BODY_TIMEOUT_SECONDS of
  its header (the application sees the client disconnect);
* answers a connection beyond MAX_CONNECTIONS open ones per worker at once with `503` and
  `Retry-After`, and closes it (after at most `REFUSAL_LINGER_SECONDS`, so the client can read
  the answer before the socket goes).

`ledgerql serve` passes it to uvicorn as `http=GuardedHttpProtocol`.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from core.logging import get_logger
from core.settings import Settings, get_settings

log = get_logger(__name__)

FD_RESERVE = 256
"""File descriptors kept for everything but client sockets: pool, listeners, logs, imports."""
REFUSAL_LINGER_SECONDS = 1.0
"""How long a refused connection may stay open for the client to read the 503."""
RETRY_AFTER_SECONDS = 1
_LOG_EVERY_SECONDS = 10.0
_last_refusal_logged = -_LOG_EVERY_SECONDS


def _response(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in headers.items())]
    lines += [f"content-length: {len(body)}", "connection: close", "", ""]
    return "\r\n".join(lines).encode("ascii") + body


_REFUSAL_BODY = json.dumps(
    {
        "errors": [
            {
                "message": "The server has too many open connections; try again shortly.",
                "extensions": {"code": "UNAVAILABLE", "status": 503},
            }
        ]
    },
    separators=(",", ":"),
).encode()
REFUSAL = _response(
    "503 Service Unavailable",
    {"content-type": "application/json", "retry-after": str(RETRY_AFTER_SECONDS)},
    _REFUSAL_BODY,
)
HEADER_TIMEOUT = _response("408 Request Timeout", {})


@dataclass(frozen=True)
class ClientLimits:
    """How long a client may take to send a request, and how many may be connected at once."""

    header_seconds: float
    body_seconds: float
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientLimits:
        """The configured limits, with the connection cap kept below the open-file limit."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        cap = settings.max_connections
        if soft != resource.RLIM_INFINITY and cap > soft - FD_RESERVE:
            cap = max(1, soft - FD_RESERVE)
            log.warning("max_connections_lowered", configured=settings.max_connections, cap=cap)
        return cls(settings.http_header_timeout_seconds, settings.http_body_timeout_seconds, cap)


@cache
def client_limits() -> ClientLimits:
    """This process's limits (uvicorn builds one protocol object per connection)."""
    return ClientLimits.from_settings(get_settings())


def raise_open_file_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as error:  # e.g. an infinite hard limit the kernel caps
            log.warning("open_file_limit_unchanged", soft=soft, hard=hard, error=str(error))
            return soft
        soft = hard
    return soft


def _log_refusal(cap: int) -> None:
    """Warn about refused connections at most every few seconds (a flood must not flood logs)."""
    global _last_refusal_logged  # noqa: PLW0603 - one process-wide throttle
    now = time.monotonic()
    if now - _last_refusal_logged >= _LOG_EVERY_SECONDS:
        _last_refusal_logged = now
        log.warning("http_connections_refused", cap=cap)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus request deadlines and a connection cap."""

    _deadline: asyncio.TimerHandle | None = None
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Refuse the connection past the cap; otherwise start the header deadline."""
        super().connection_made(transport)
        limits = client_limits()
        if len(self.connections) > limits.max_connections:
            self._refuse()
            return
        self._arm(limits.header_seconds, self._header_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the deadline along with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse the request, unless the connection was refused (then ignore it)."""
        if not self._refused:
            super().data_received(data)

    def on_message_begin(self) -> None:
        """A request starts: its header must be complete in time (kept-alive connections)."""
        super().on_message_begin()
        if self._deadline is None:
            self._arm(client_limits().header_seconds, self._header_too_slow)

    def on_headers_complete(self) -> None:
        """The header is in: the body, if any, must be complete in time."""
        self._disarm()
        super().on_headers_complete()
        if not (self.parser.should_upgrade() and self._should_upgrade()):
            self._arm(client_limits().body_seconds, self._body_too_slow)

    def on_message_complete(self) -> None:
        """The whole request is in: no deadline while the application answers."""
        self._disarm()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        """The WebSocket protocol takes the connection over, with its own limits."""
        self._disarm()
        super().handle_websocket_upgrade()

    def _arm(self, seconds: float, expired: Callable[[], None]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _header_too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        log.debug("http_header_timeout", client=self.client)
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(HEADER_TIMEOUT)
        self.transport.close()

    def _body_too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log.debug("http_body_timeout", client=self.client)
            self.transport.close()

    def _refuse(self) -> None:
        self._refused = True
        self.connections.discard(self)  # a refused connection does not count against the cap
        _log_refusal(client_limits().max_connections)
        self.transport.write(REFUSAL)
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the client reads the answer, then sees the end
        self._arm(REFUSAL_LINGER_SECONDS, self.transport.abort)
