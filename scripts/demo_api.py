"""The demo client's side of the LedgerQL HTTP API: documents, requests and their failures.

It talks to a server over `POST /graphql` only (httpx) and imports nothing of the server. Every
failure becomes a DemoFailure with the error's code and the request id: the code of a payload
error or a top-level GraphQL error (`extensions.code`), `HTTP_ERROR` for an HTTP error without a
GraphQL body, `UNREACHABLE` when no answer came (connection refused, timeout). Only a failure
after the request may have reached the server counts as a lost answer (one a money step resends).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

TIMEOUT_SECONDS = 30.0
RESENDS = 2
"""How often a money movement whose answer was lost is sent again, with the same key."""
MAX_RESEND_WAIT_SECONDS = 5.0
MONEY = "{ amount currency formatted }"
ACCOUNT = f"{{ id type currency status balance {MONEY} }}"
PAYLOAD_ERRORS = "errors { code message field }"
NEVER_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
)
"""Transport failures before any byte of the request left: the server cannot have run it."""

REGISTER = f"""
mutation Register($input: RegisterInput!) {{
  register(input: $input) {{ user {{ id username email }} {PAYLOAD_ERRORS} }}
}}"""
LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) { accessToken expiresIn user { id username } }
}"""
LOGOUT = """
mutation Logout {
  logout { revokedSessions }
}"""
CREATE_HOLDER = f"""
mutation CreateHolder($input: CreateAccountHolderInput!) {{
  createAccountHolder(input: $input) {{
    accountHolder {{ id firstName lastName dateOfBirth }} {PAYLOAD_ERRORS}
  }}
}}"""
OPEN_ACCOUNT = f"""
mutation OpenAccount($input: OpenAccountInput!) {{
  openAccount(input: $input) {{ account {ACCOUNT} {PAYLOAD_ERRORS} }}
}}"""
MOVEMENT = """
mutation {name}($input: MoneyMovementInput!) {{
  {field}(input: $input) {{
    transaction {{ id type amount {money} balanceAfter {money} }}
    account {account} {errors}
  }}
}}"""
DEPOSIT = MOVEMENT.format(
    name="Deposit", field="deposit", money=MONEY, account=ACCOUNT, errors=PAYLOAD_ERRORS
)
WITHDRAW = MOVEMENT.format(
    name="Withdraw", field="withdraw", money=MONEY, account=ACCOUNT, errors=PAYLOAD_ERRORS
)
TRANSFER = f"""
mutation Transfer($input: TransferInput!) {{
  transfer(input: $input) {{
    transfer {{ id amount {MONEY} createdAt }}
    fromAccount {ACCOUNT} toAccount {ACCOUNT} {PAYLOAD_ERRORS}
  }}
}}"""
STATEMENT = f"""
query Statement($accountId: ID!, $from: Date!, $to: Date!, $after: String) {{
  statement(accountId: $accountId, from: $from, to: $to) {{
    from to openingBalance {MONEY} closingBalance {MONEY}
    totalCredits {MONEY} totalDebits {MONEY}
    transactions(first: 100, after: $after) {{
      edges {{ node {{
        id type createdAt description amount {MONEY} balanceAfter {MONEY} transfer {{ id }}
      }} }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}"""


@dataclass(frozen=True)
class DemoFailure(Exception):
    """A step that failed: its error code, message, request id and the input at fault."""

    code: str
    message: str
    request_id: str | None = None
    field: tuple[str, ...] | None = None
    answer_lost: bool = False
    """Whether the request may have run but its answer never came (safe to resend its key)."""
    retry_after: float = 0.0

    def __str__(self) -> str:
        """The failure in one line: code, message, then the field and request id if known."""
        notes = [f"field {'.'.join(self.field)}"] if self.field else []
        if self.request_id:
            notes.append(f"request id {self.request_id}")
        return f"{self.code}: {self.message}" + (f" ({', '.join(notes)})" if notes else "")

    def as_json(self) -> dict[str, Any]:
        """The failure as the `error` of a JSON output line."""
        return {
            "code": self.code,
            "message": self.message,
            "requestId": self.request_id,
            "field": list(self.field) if self.field else None,
        }


def base_url_problem(url: str) -> str | None:
    """Why `url` cannot be a server's base URL ("must ..."), or None when it can."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        return f"must be a URL ({error})"
    if parsed.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parsed.host:
        return "must name a host"
    if parsed.query or parsed.fragment:
        return "must have no query or fragment"
    if parsed.port is not None and not 0 < parsed.port < 65536:
        return "must have a port from 1 to 65535"
    return None


def new_request_id() -> str:
    """A request id the server accepts as ours (8-128 of `A-Za-z0-9._:-`)."""
    return f"demo-{uuid.uuid4().hex}"


def _field_path(value: object) -> tuple[str, ...] | None:
    if isinstance(value, list) and value:
        return tuple(str(part) for part in value)
    return None


def _top_level_failure(body: dict[str, Any], request_id: str) -> DemoFailure | None:
    errors = body.get("errors")
    if not isinstance(errors, list) or not errors:
        return None
    first = errors[0] if isinstance(errors[0], dict) else {}
    extensions = first.get("extensions") or {}
    code = str(extensions.get("code") or "UNKNOWN")
    retry_after = extensions.get("retryAfter")
    return DemoFailure(
        code=code,
        message=str(first.get("message") or "the server reported an error"),
        request_id=str(extensions.get("requestId") or request_id),
        field=_field_path(extensions.get("field")),
        answer_lost=code == "UNAVAILABLE",
        retry_after=float(retry_after) if isinstance(retry_after, int | float) else 0.0,
    )


class LedgerClient:
    """A signed-in (or anonymous) GraphQL client of one LedgerQL server."""

    def __init__(self, base_url: str, http: httpx.Client | None = None) -> None:
        """Talk to the server at `base_url` (e.g. http://127.0.0.1:8000)."""
        self.endpoint = base_url.rstrip("/") + "/graphql"
        self._http = http or httpx.Client(timeout=TIMEOUT_SECONDS)
        self._access_token: str | None = None
        self._sessions: list[str] = []

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def sign_in(self, access_token: str) -> None:
        """Send this access token with every later request (it is never printed)."""
        self._access_token = access_token
        self._sessions.append(access_token)

    @property
    def signed_in(self) -> bool:
        """Whether a session this client signed into may still be open."""
        return bool(self._sessions)

    def sign_out(self) -> int:
        """End every session this client signed into (logout); the number the server ended.

        Raise DemoFailure at the first logout that fails; the sessions not yet ended stay known,
        so a later call tries them again.
        """
        revoked = 0
        while self._sessions:
            self._access_token = self._sessions[-1]
            revoked += int(self.execute(LOGOUT, {})["logout"]["revokedSessions"])
            self._sessions.pop()
        self._access_token = None
        return revoked

    def execute(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Run one operation; its `data`, or DemoFailure on any top-level or HTTP error."""
        request_id = new_request_id()
        headers = {"Accept": "application/json", "X-Request-ID": request_id}
        if self._access_token is not None:
            headers["Authorization"] = f"Bearer {self._access_token}"
        try:
            response = self._http.post(
                self.endpoint,
                json={"query": document, "variables": variables},
                headers=headers,
            )
        except httpx.TransportError as error:
            raise DemoFailure(
                "UNREACHABLE",
                f"no answer from {self.endpoint}: {_transport_reason(error)}",
                request_id,
                answer_lost=not isinstance(error, NEVER_SENT),
            ) from None
        request_id = response.headers.get("x-request-id", request_id)
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            request_id = str((body.get("extensions") or {}).get("requestId") or request_id)
            if failure := _top_level_failure(body, request_id):
                raise failure
        if response.status_code != 200 or not isinstance(body, dict):
            raise DemoFailure(
                "HTTP_ERROR",
                f"HTTP {response.status_code} from {self.endpoint} without a GraphQL answer",
                request_id,
            )
        data = body.get("data")
        if not isinstance(data, dict):
            raise DemoFailure("HTTP_ERROR", "the answer holds no data", request_id)
        return {"requestId": request_id, **data}

    def mutate(
        self, document: str, field: str, variables: dict[str, Any], *, resends: int = 0
    ) -> dict[str, Any]:
        """Run a mutation; its payload (with `attempts`), or DemoFailure on its first error.

        A mutation with an idempotency key is sent again up to `resends` times when its answer
        was lost (a dropped connection, a timeout, UNAVAILABLE): the key makes the server move
        the money once and answer the resend with the first result.
        """
        attempt = 1
        while True:
            try:
                data = self.execute(document, variables)
                break
            except DemoFailure as failure:
                if not failure.answer_lost or attempt > resends:
                    raise
                wait = max(failure.retry_after, 0.2 * attempt)
            time.sleep(min(wait, MAX_RESEND_WAIT_SECONDS))
            attempt += 1
        payload: dict[str, Any] = {"attempts": attempt, **data[field]}
        for error in payload.get("errors") or []:
            raise DemoFailure(
                str(error["code"]),
                str(error["message"]),
                data["requestId"],
                _field_path(error.get("field")),
            )
        return {"requestId": data["requestId"], **payload}


def _transport_reason(error: httpx.TransportError) -> str:
    if isinstance(error, httpx.ConnectError):
        return f"cannot connect ({error}); is the server running?"
    if isinstance(error, httpx.ConnectTimeout):
        return "cannot connect (timed out); is the server running?"
    if isinstance(error, httpx.ProxyError):
        return f"the proxy failed ({error})"
    if isinstance(error, httpx.UnsupportedProtocol):
        return f"not an http or https URL ({error})"
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    return f"the connection dropped ({type(error).__name__})"
