"""Authentication: the first step of every operation that reads the database or executes.

It runs right after the static query cost (which needs no caller and no SQL, so a document
refused for its cost is not authenticated) and before the cost budget is charged
(graph/extensions/gate.py runs the steps in order).

The credentials are the `Authorization` header on HTTP and the `connection_init` payload on
WebSocket (for every operation of the connection). They are checked once per operation, through
`AuthService.authenticate`, and the outcome is stored on the operation scope:

* no credentials: the operation runs anonymous, so public fields (`health`, `register`, `login`,
  `refreshToken`, ...) work and fields that need a caller are `UNAUTHENTICATED`;
* a valid token of a live session: its principal is the caller, and the user record read to
  check it primes the users loader (`me` costs no further statement). That read is the first
  statement of the operation's snapshot, on the pooled connection all its reads share;
* a malformed `Authorization` value, or a bad, expired or revoked token: the refusal is stored
  and raised to every field that asks for the caller; a presented token that fails is counted
  once per operation for the audit trail (auth/token_failures.py);
* the database cannot answer: `Unavailable` is raised, and the whole operation is refused.

Subscriptions re-resolve the caller for each event (`OperationScope.act_as`).
"""

from __future__ import annotations

from db.errors import Unauthenticated
from graph.context import Context, OperationScope
from graph.identity.loaders import UsersById


async def authenticate_operation(context: Context, scope: OperationScope) -> None:
    """Check the operation's credentials and store the caller or the refusal on `scope`."""
    try:
        token = context.access_token()
    except Unauthenticated as error:  # a malformed value: no token to count
        scope.refuse(error)
        return
    if token is None:
        scope.authentication_ran = True
        return
    try:
        caller = await context.auth.authenticate(scope.uow, token)
    except Unauthenticated as error:
        scope.refuse(error)
        await scope.uow.close()  # noting the refusal may write: never hold two connections
        await context.note_rejected_token(error)
        return
    scope.act_as(caller.principal)
    scope.data_version = caller.data_version
    scope.loaders.get(UsersById).prime(caller.user.id, caller.user)  # `me` costs no statement
    context.request_info.user_id = str(caller.principal.user_id)
