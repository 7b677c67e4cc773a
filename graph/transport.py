"""Transport guards for /graphql: the CSRF rule for GET and the WebSocket message size limit."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import Message, Receive, Send

CSRF_REFUSAL = (
    "A GET request must carry a header that forces a CORS preflight, such as "
    "GraphQL-Require-Preflight: 1 or Authorization"
)
CORS_SIMPLE_CONTENT_TYPES = frozenset(
    {"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)
PREFLIGHT_HEADERS = (
    "authorization",
    "graphql-require-preflight",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "x-requested-with",
)


def forces_preflight(headers: Headers) -> bool:
    """Whether a browser could only have sent these headers after a CORS preflight."""
    content_type = headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type not in CORS_SIMPLE_CONTENT_TYPES:
        return True
    return any(headers.get(name, "").strip() for name in PREFLIGHT_HEADERS)


def bounded_websocket(receive: Receive, send: Send, max_bytes: int) -> tuple[Receive, Send]:
    """ASGI WebSocket channels that close with 1009 on a message over `max_bytes`."""
    closed = False

    async def bounded_receive() -> Message:
        nonlocal closed
        message = await receive()
        if message["type"] == "websocket.receive":
            text, data = message.get("text"), message.get("bytes")
            size = len(text.encode()) if text is not None else len(data or b"")
            if size > max_bytes:
                await send({"type": "websocket.close", "code": 1009, "reason": "Message too big"})
                closed = True
                return {"type": "websocket.disconnect", "code": 1009}
        return message

    async def bounded_send(message: Message) -> None:
        if not closed:  # the connection was closed under the app's feet; it may still say goodbye
            await send(message)

    return bounded_receive, bounded_send
