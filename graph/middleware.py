"""Pure ASGI middleware: request id and access log, security headers, body-size limit."""

from __future__ import annotations

import time

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.context import RequestInfo, current_request, request_id_from_header
from core.logging import get_logger
from graph.errors import ErrorCode, error_document
from graph.metrics import Metrics

access_log = get_logger("ledgerql.access")
KNOWN_ROUTES = frozenset({"/graphql", "/health/live", "/health/ready", "/metrics"})
CLIENT_CLOSED_REQUEST = 499
"""Access-log status of a request whose client left before the answer (nginx's convention)."""


class RequestContextMiddleware:
    """Assigns the request id, returns it as `X-Request-ID`, logs one line and counts metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one HTTP request or WebSocket connection."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        info = RequestInfo(request_id=request_id_from_header(headers.get("x-request-id")))
        token = current_request.set(info)
        structlog.contextvars.bind_contextvars(request_id=info.request_id)
        started = time.perf_counter()
        status = 500
        answered = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] in ("http.response.start", "websocket.accept"):
                status, answered = message.get("status", 101), True
                response_headers = MutableHeaders(scope=message)
                response_headers["x-request-id"] = info.request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
            if not answered and scope["type"] == "http":  # the client left before its answer
                status = CLIENT_CLOSED_REQUEST
        except Exception:
            access_log.exception("unhandled_exception")
            raise
        finally:
            seconds = time.perf_counter() - started
            self._record(scope, info, status, seconds)
            structlog.contextvars.unbind_contextvars("request_id")
            current_request.reset(token)

    def _record(self, scope: Scope, info: RequestInfo, status: int, seconds: float) -> None:
        path = scope.get("path", "")
        route = path if path in KNOWN_ROUTES else "unmatched"
        method = scope.get("method", "WEBSOCKET")
        if scope["type"] == "http":
            self.metrics.observe_request(method, route, status, seconds)
        access_log.info(
            "request",
            request_id=info.request_id,
            user_id=info.user_id,
            operation=info.operation_name,
            operation_type=info.operation_type,
            outcome=info.outcome,
            method=method,
            route=route,
            status=status,
            duration_ms=round(seconds * 1000, 2),
        )


def html_content_security_policy(*, inline_styles: bool = False) -> str:
    """The policy of an HTML page: everything from the app's own origin, no inline script.

    `connect-src 'self'` covers the same-origin WebSocket too (CSP Level 3, as browsers do).
    `inline_styles` adds `'unsafe-inline'` to `style-src` only (never to scripts).
    """
    style_src = "style-src 'self' 'unsafe-inline'" if inline_styles else "style-src 'self'"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            style_src,
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "worker-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


HTML_CONTENT_SECURITY_POLICY = html_content_security_policy()
"""Every HTML page (the console's included) unless its route sets a policy of its own."""
GRAPHIQL_CONTENT_SECURITY_POLICY = html_content_security_policy(inline_styles=True)
"""GraphiQL's page: its Monaco editor renders lines as HTML with `style` attributes and adds
`<style>` elements at run time, which no hash or nonce can allow (see SECURITY.md)."""
DATA_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
"""Every other response is data, scripts, styles or fonts: nothing in it may load anything."""


class SecurityHeadersMiddleware:
    """Adds the OWASP-recommended response headers to every HTTP response."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add headers on the way out."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("x-frame-options", "DENY")
                headers.setdefault("referrer-policy", "no-referrer")
                headers.setdefault("cross-origin-opener-policy", "same-origin")
                headers.setdefault("cache-control", "no-store")
                is_html = headers.get("content-type", "").startswith("text/html")
                headers.setdefault(
                    "content-security-policy",
                    HTML_CONTENT_SECURITY_POLICY if is_html else DATA_CONTENT_SECURITY_POLICY,
                )
                if self.hsts:
                    headers.setdefault(
                        "strict-transport-security", "max-age=63072000; includeSubDomains"
                    )
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLargeError(Exception):
    """Raised from `receive` when a request body exceeds the limit."""


class BodySizeLimitMiddleware:
    """Answers 413 to request bodies larger than `max_bytes`, declared or streamed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Reject by Content-Length up front, or stop counting bytes as they arrive."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLargeError:
            if started:  # pragma: no cover - the app answered before reading the whole body
                raise
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        info = current_request.get()
        body = error_document(
            ErrorCode.BAD_REQUEST,
            f"Request body exceeds {self.max_bytes} bytes",
            info.request_id if info else None,
            status=413,
        )
        await JSONResponse(body, status_code=413)(scope, receive, send)
