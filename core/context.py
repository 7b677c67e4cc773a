"""Per-request facts (request id, user, operation) carried through a context variable."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")


@dataclass(slots=True)
class RequestInfo:
    """What the access log and error responses need to know about the current request."""

    request_id: str
    user_id: str | None = None
    operation_name: str | None = None
    operation_type: str | None = None
    outcome: str | None = None


current_request: ContextVar[RequestInfo | None] = ContextVar("current_request", default=None)


def request_id_from_header(value: str | None) -> str:
    """Accept a client's X-Request-ID when it is a sane token; otherwise generate a fresh one."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request being served, if any."""
    info = current_request.get()
    return info.request_id if info else None
