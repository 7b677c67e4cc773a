"""The `/graphql` endpoint: Strawberry's ASGI view plus the GraphQL-over-HTTP rules it lacks.

Added on top of Strawberry: `application/graphql-response+json` negotiation (request errors get
HTTP 400 or their own status, and no `data`), 405 with `Allow` for a mutation over GET, 406 for
an Accept header we cannot satisfy, 415 for an unsupported body type, 400 for a GET that no
browser could send cross-site without a CORS preflight (CSRF), a WebSocket message size limit
(close 1009), HTTP 429/503 with `Retry-After` when rate limits or a database outage refused the
whole request, close 1013 instead of 4403 when `connection_init` meets an outage, and every
transport error as a JSON body in the error model of docs/api.md instead of plain text. GraphQL
errors themselves are shaped once, for every transport, in `LedgerSchema.process_errors`.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, cast

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from auth.service import AuthService
from core.context import RequestInfo, current_request, request_id_from_header
from core.settings import Settings
from db.errors import AppError, Unauthenticated, Unavailable
from db.rate_limits import Counters
from db.session import Database
from graph.context import Context
from graph.errors import AmbiguousOperationError, ErrorCode, error_document
from graph.graphiql import graphiql_page
from graph.metrics import Metrics
from graph.middleware import GRAPHIQL_CONTENT_SECURITY_POLICY
from graph.transport import CSRF_REFUSAL, bounded_websocket, forces_preflight
from graph.ws import CLOSE_TRY_AGAIN_LATER, ConnectionGuard

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
_REQUEST_ERROR_KEY = "graphql_request_error_status"
_REFUSED_KEY = "graphql_refused_retry_after"
_connection_contexts: ContextVar[list[Context] | None] = ContextVar(
    "ledgerql_ws_contexts", default=None
)
_connection_outage: ContextVar[list[Unavailable] | None] = ContextVar(
    "ledgerql_ws_outage", default=None
)


def closes_as_outage(send: Send, outage: list[Unavailable]) -> Send:
    """A WebSocket send that turns Strawberry's rejection (4403) into 1013 once `outage` is set.

    1013 "Try Again Later" (RFC 6455) tells the client to reconnect later; 4403 would tell it
    that its credentials are refused.
    """

    async def sending(message: Message) -> None:
        if outage and message["type"] == "websocket.close":
            message = {**message, "code": CLOSE_TRY_AGAIN_LATER, "reason": outage[0].message}
        await send(message)

    return sending


def negotiate_media_type(accept: str | None) -> str | None:
    """The response media type for an Accept header, or None when none is acceptable."""
    if not accept or not accept.strip():
        return APPLICATION_JSON
    ranges: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept.split(",")):
        media, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranges.append((-quality, position, media.strip().lower()))
    for _, _, media in sorted(ranges):
        if media == GRAPHQL_RESPONSE_JSON:
            return GRAPHQL_RESPONSE_JSON
        if media in (APPLICATION_JSON, "application/*", "*/*"):
            return APPLICATION_JSON
    return None


def is_request_error(result: ExecutionResult) -> bool:
    """Whether execution never started (parse, validation, variables, pre-execution refusal)."""
    if not result.errors:
        return False
    if isinstance(result, PreExecutionError):
        return True
    return result.data is None and all(error.path is None for error in result.errors)


_RETRYABLE_STATUS = {ErrorCode.RATE_LIMITED.value: 429, ErrorCode.UNAVAILABLE.value: 503}


def refused_retry_after(result: ExecutionResult) -> tuple[int, int] | None:
    """HTTP status and `Retry-After` when rate limits (429) or an outage (503) refused every field.

    None when any field has data or any error is of another kind.
    """
    errors = result.errors or []
    extensions = [error.extensions or {} for error in errors]
    codes = {ext.get("code") for ext in extensions}
    if not errors or not codes <= _RETRYABLE_STATUS.keys():
        return None
    if result.data and any(value is not None for value in result.data.values()):
        return None
    status = max(_RETRYABLE_STATUS[str(code)] for code in codes)
    return status, max(int(ext.get("retryAfter", 1)) for ext in extensions)


def _request_error_status(errors: list[GraphQLError]) -> int:
    status = (errors[0].extensions or {}).get("status") if errors else None
    return status if isinstance(status, int) and 400 <= status < 600 else 400


class LedgerGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI GraphQL app with LedgerQL's context, transport and error rules."""

    def __init__(
        self,
        schema: BaseSchema,
        *,
        settings: Settings,
        database: Database,
        metrics: Metrics,
        auth: AuthService,
        rate_limits: Counters,
        cost_budgets: Counters,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(
                seconds=settings.ws_connection_init_timeout_seconds
            ),
            max_subscriptions_per_connection=settings.ws_max_subscriptions,
            allowed_origins=settings.cors_origins,
        )
        self.settings = settings
        self.database = database
        self.metrics = metrics
        self.auth = auth
        self.rate_limits = rate_limits
        self.cost_budgets = cost_budgets

    async def render_graphql_ide(self, request: Request) -> Response:
        """Our own GraphiQL page (same-origin assets only), not Strawberry's CDN template."""
        return HTMLResponse(
            graphiql_page(),
            headers={"content-security-policy": GRAPHIQL_CONTENT_SECURITY_POLICY},
        )

    def encode_json(self, data: object) -> str:
        """Responses and WebSocket messages through orjson: the same compact JSON, faster.

        A str, not bytes: Strawberry sends bytes over WebSocket as binary frames, which
        graphql-transport-ws clients refuse. Request bodies keep the standard library's decoder,
        whose integers are exact at any size.
        """
        try:
            return orjson.dumps(data).decode()
        except TypeError:  # an integer beyond 64 bits: only the standard library encodes it
            return json.dumps(data, separators=(",", ":"))

    async def _serve_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        contexts: list[Context] = []
        outage: list[Unavailable] = []
        token = _connection_contexts.set(contexts)
        outage_token = _connection_outage.set(outage)
        receive, send = bounded_websocket(receive, send, self.settings.ws_max_message_bytes)
        try:
            await super().__call__(scope, receive, closes_as_outage(send, outage))
        finally:
            _connection_contexts.reset(token)
            _connection_outage.reset(outage_token)
            for context in contexts:
                if context.guard is not None:
                    await context.guard.close()

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Accept a connection only with the access token of a live session (else 4403)."""
        if not isinstance(context.request, WebSocket):  # pragma: no cover - WebSocket only
            raise ConnectionRejectionError
        token: str | None = None
        try:
            token = context.access_token()
            if token is None:
                raise Unauthenticated
            context.guard = await ConnectionGuard.open(
                context.request, token, self.auth, self.database
            )
        except AppError as error:
            outage = _connection_outage.get()
            if isinstance(error, Unavailable) and outage is not None:
                outage.append(error)  # closed with 1013 instead of 4403
            if token is not None and isinstance(error, Unauthenticated):
                await context.note_rejected_token(error)  # a token was presented and refused
            raise ConnectionRejectionError({"code": error.code, "message": error.message}) from None
        return cast("UnsetType", UNSET)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        """A context for this request or WebSocket connection."""
        info = current_request.get() or RequestInfo(
            request_id=request_id_from_header(request.headers.get("x-request-id"))
        )
        context = Context(
            request=request,
            response=response,
            settings=self.settings,
            database=self.database,
            request_info=info,
            metrics=self.metrics,
            auth=self.auth,
            rate_limits=self.rate_limits,
            cost_budgets=self.cost_budgets,
        )
        connection = _connection_contexts.get()
        if isinstance(request, WebSocket) and connection is not None:
            connection.append(context)
        return context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve HTTP with content negotiation; hand WebSockets to Strawberry."""
        if scope["type"] == "websocket":
            await self._serve_websocket(scope, receive, send)
            return
        if scope["type"] != "http":  # pragma: no cover - lifespan is handled by the app
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        media_type = negotiate_media_type(request.headers.get("accept"))
        wants_ide = self.graphql_ide is not None and "text/html" in request.headers.get(
            "accept", ""
        )
        if media_type is None and not (wants_ide and request.method == "GET"):
            response: Response = self._error_response(
                406, f"Acceptable media types: {GRAPHQL_RESPONSE_JSON}, {APPLICATION_JSON}"
            )
        elif request.method == "GET" and not wants_ide and not forces_preflight(request.headers):
            response = self._error_response(400, CSRF_REFUSAL, media_type or APPLICATION_JSON)
        else:
            media_type = media_type or APPLICATION_JSON
            try:
                response = await self.run(request)
            except ClientDisconnect:
                return  # gone before its body was in (or too slow, see graph/http_server.py)
            except HTTPException as error:
                response = self._error_response(error.status_code, error.reason, media_type)
                if error.status_code == 405:
                    response.headers["allow"] = "GET, POST" if request.method != "GET" else "POST"
            else:
                self._apply_media_type(request, response, media_type)
        await response(scope, receive, send)

    def _apply_media_type(self, request: Request, response: Response, media_type: str) -> None:
        if response.media_type != APPLICATION_JSON:
            return  # GraphiQL page or a stream: not ours to change
        response.headers["content-type"] = f"{media_type}; charset=utf-8"
        refused = getattr(request.state, _REFUSED_KEY, None)
        if refused is not None:  # the whole request was refused: rate limits or an outage
            response.status_code, retry_after = refused
            response.headers["retry-after"] = str(retry_after)
            return
        status = getattr(request.state, _REQUEST_ERROR_KEY, None)
        if media_type == GRAPHQL_RESPONSE_JSON and status is not None:
            response.status_code = status

    def _error_response(
        self, status: int, reason: str, media_type: str = APPLICATION_JSON
    ) -> Response:
        info = current_request.get()
        body = error_document(
            ErrorCode.BAD_REQUEST, reason, info.request_id if info else None, status=status
        )
        # encode_json, not JSONResponse: a reason may quote client text (an operation name) with
        # an unpaired surrogate, which only an ASCII-escaping encoder can write.
        return Response(self.encode_json(body), status_code=status, media_type=media_type)

    def decode_json(self, data: str | bytes) -> object:
        """The standard library's decoder; a number past its 4,300-digit limit is malformed JSON.

        Request bodies and WebSocket messages both come through here, and Strawberry turns a
        JSONDecodeError into a 400 (HTTP) or a 4400 close (WebSocket).
        """
        try:
            return json.loads(data)
        except json.JSONDecodeError:
            raise
        except (ValueError, RecursionError) as error:  # digits limit, bad UTF-8, deep nesting
            raise json.JSONDecodeError("Unreadable JSON", "", 0) from error

    def parse_json(self, data: str | bytes) -> Any:
        """Strawberry's parsing; a request body (bytes, unlike query parameters) must be an object.

        A list is left to Strawberry, which refuses batches; anything else would reach it as a
        request it cannot read.
        """
        value = super().parse_json(data)
        if isinstance(data, bytes) and not isinstance(value, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        return value

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Strawberry's parsing, with 415 for a body type GraphQL-over-HTTP does not define."""
        try:
            return await super().parse_http_body(request)
        except HTTPException as error:
            if error.reason == "Unsupported content type":
                raise HTTPException(415, "Content-Type must be application/json") from error
            raise
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise HTTPException(400, "Unable to parse request body as JSON") from error

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """Strawberry's execution, with 405 for a mutation sent over GET.

        Several operations and no `operationName`: 400 with the reason (see graph/schema.py).
        """
        try:
            return await super().execute_single(*args, **kwargs)
        except HTTPException as error:
            cause = error.__cause__
            if isinstance(cause, CannotGetOperationTypeError) and isinstance(
                cause.__cause__, AmbiguousOperationError
            ):
                raise HTTPException(400, str(cause.__cause__)) from error
            if (
                isinstance(cause, InvalidOperationTypeError)
                and cause.operation_type is OperationType.MUTATION
            ):
                raise HTTPException(405, "Mutations must be sent with POST") from error
            raise

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """Drop `data` when execution never started, and remember the status it deserves."""
        response = await super().process_result(request, result)
        refused = refused_retry_after(result)
        if refused is not None:
            setattr(request.state, _REFUSED_KEY, refused)
        if is_request_error(result):
            response.pop("data", None)
            setattr(request.state, _REQUEST_ERROR_KEY, _request_error_status(result.errors or []))
        return response
