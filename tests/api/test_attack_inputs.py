"""Input values no database or encoder can hold: each is a clear refusal, never INTERNAL.

Unpaired surrogates, NUL characters, non-object and oversized-number bodies, forged cursors,
absurd dates and signed tokens with impossible time claims, on both backends.
"""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from auth.passwords import PasswordHasher, password_problems
from db.rate_limits import MAX_KEY_LENGTH, stored_key
from db.session import Database
from tests.identity.test_users_queries import assert_top_level
from tests.support.apps import code_of
from tests.support.hostile import forged_cursor, forged_token, gql_escaped, post_raw, row_counts
from tests.support.identity import STRONG_PASSWORD, SignedIn, gql, signed_in, signed_in_with_role
from tests.support.money import ERRORS, customer, key
from tests.support.queries import count_statements
from tests.support.ws import (
    CLOSE_FORBIDDEN,
    EVENTS,
    bearer,
    closed_with,
    init,
    live_app,
    receive,
    rejection_code,
    subscribe,
)

SURROGATE = "\ud800"
CLOSE_INVALID_MESSAGE = 4400
NUL = "\x00"
LOGIN = "mutation($input: LoginInput!) { login(input: $input) { accessToken } }"
REGISTER = (
    "mutation($input: RegisterInput!) { register(input: $input) { user { id } " + ERRORS + " } }"
)
DEPOSIT = (
    "mutation($input: MoneyMovementInput!) { deposit(input: $input) { transaction { id } "
    + ERRORS
    + " } }"
)
UPDATE_PROFILE = (
    "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { user { id } "
    + ERRORS
    + " } }"
)
CHANGE_PASSWORD = (
    "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { user { id } "
    + ERRORS
    + " } }"
)
CREATE_HOLDER = (
    "mutation($input: CreateAccountHolderInput!) { createAccountHolder(input: $input) "
    "{ accountHolder { id } " + ERRORS + " } }"
)
ASSIGN_ROLE = (
    "mutation($input: RoleGrantInput!) { assignRole(input: $input) { user { id } " + ERRORS + " } }"
)
AUDIT_LOGS = "query($filter: AuditLogFilter) { auditLogs(filter: $filter) { edges { cursor } } }"
MY_AUDIT_LOGS = (
    "query($filter: AuditLogFilter) { me { auditLogs(filter: $filter) { edges { cursor } } } }"
)
USERS = "query($filter: UserFilter) { users(filter: $filter) { edges { cursor } } }"


async def refused_as_invalid(
    client: httpx.AsyncClient,
    app: Starlette,
    query: str,
    variables: dict[str, Any],
    *,
    token: str | None,
    field: list[str],
) -> dict[str, Any]:
    """Send an operation; assert it was a top-level VALIDATION_FAILED at `field` and ran no SQL."""
    with count_statements(app.state.database.engine) as counter:
        body = await gql_escaped(client, query, variables, token)
    error = assert_top_level(body, "VALIDATION_FAILED", 422)
    assert error["extensions"]["field"] == field, body
    assert "data" not in body, body
    assert counter.count == 0, counter.statements
    return error


def nul_cases(admin: SignedIn, user: SignedIn, account: str) -> list[Any]:
    """(operation, variables, token, field) for a NUL in a string reaching the database."""
    deposit = {"accountId": account, "amount": 5, "idempotencyKey": key()}
    return [
        (LOGIN, {"input": {"username": f"ann{NUL}", "password": "x"}}, None, ["input", "username"]),
        (LOGIN, {"input": {"username": "ann", "password": f"Aa1!{NUL}"}}, None,
         ["input", "password"]),
        (REGISTER, {"input": {"username": "newbie", "email": "n@example.com",
                              "password": STRONG_PASSWORD, "fullName": f"N{NUL}"}}, None,
         ["input", "fullName"]),
        (DEPOSIT, {"input": {**deposit, "description": f"rent{NUL}"}}, user.access_token,
         ["input", "description"]),
        (DEPOSIT, {"input": {**deposit, "idempotencyKey": f"k{NUL}"}}, user.access_token,
         ["input", "idempotencyKey"]),
        (UPDATE_PROFILE, {"input": {"fullName": f"Ann{NUL}"}}, user.access_token,
         ["input", "fullName"]),
        (CREATE_HOLDER, {"input": {"firstName": f"A{NUL}", "lastName": "B",
                                   "dateOfBirth": "1990-01-01"}}, admin.access_token,
         ["input", "firstName"]),
        (ASSIGN_ROLE, {"input": {"userId": user.global_id, "role": f"admin{NUL}"}},
         admin.access_token, ["input", "role"]),
        (AUDIT_LOGS, {"filter": {"entityType": f"user{NUL}"}}, admin.access_token,
         ["filter", "entityType"]),
        (MY_AUDIT_LOGS, {"filter": {"entityId": f"x{NUL}"}}, user.access_token,
         ["filter", "entityId"]),
        (USERS, {"filter": {"search": f"an{NUL}"}}, admin.access_token, ["filter", "search"]),
    ]  # fmt: skip


async def test_a_nul_in_any_string_is_validation_failed_and_changes_nothing(
    client: httpx.AsyncClient, app: Starlette, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "root", "admin")
    user, account = await customer(client, currency="EUR")
    before = await row_counts(database)
    for query, variables, token, field in nul_cases(admin, user, account):
        error = await refused_as_invalid(client, app, query, variables, token=token, field=field)
        assert error["message"] == f"`{'.'.join(field)}` must not contain NUL characters (U+0000)."
    assert await row_counts(database) == before


@pytest.mark.parametrize("operation", [LOGIN, CHANGE_PASSWORD, REGISTER])
async def test_an_unpaired_surrogate_in_a_password_is_validation_failed(
    client: httpx.AsyncClient, app: Starlette, database: Database, operation: str
) -> None:
    user = await signed_in(client, "ann")
    password = f"Aa1!{SURROGATE}"
    variables = {
        LOGIN: {"username": "ann", "password": password},
        CHANGE_PASSWORD: {"currentPassword": user.password, "newPassword": password},
        REGISTER: {"username": "bob", "email": "bob@example.com", "password": password},
    }[operation]
    field = ["input", "newPassword" if operation == CHANGE_PASSWORD else "password"]
    before = await row_counts(database)
    error = await refused_as_invalid(
        client, app, operation, {"input": variables}, token=user.access_token, field=field
    )
    assert error["message"].endswith("must be valid Unicode (no unpaired surrogates).")
    assert await row_counts(database) == before


async def test_unstorable_literals_and_nested_variables_name_the_argument_path(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    password = ["input", "password"]
    literal = 'mutation { login(input: {username: "a", password: "Aa1!\\u0000"}) { accessToken } }'
    await refused_as_invalid(client, app, literal, {}, token=None, field=password)
    nested = 'mutation($p: String!) { login(input: {username: "a", password: $p}) { tokenType } }'
    await refused_as_invalid(client, app, nested, {"p": SURROGATE}, token=None, field=password)
    default = 'query($s: String = "a\\u{0}") { users(filter: {search: $s}) { edges { cursor } } }'
    await refused_as_invalid(client, app, default, {}, token=None, field=["filter", "search"])


async def test_undeclared_variables_are_ignored_as_graphql_ignores_them(
    client: httpx.AsyncClient,
) -> None:
    variables = {"junk": f"{NUL}{SURROGATE}"}
    body = await gql_escaped(client, "{ health { status } }", variables)
    assert body["data"] == {"health": {"status": "OK"}}, body


async def test_password_hashing_never_raises_on_an_unpaired_surrogate() -> None:
    hasher = PasswordHasher(rounds=4, concurrency=1)
    try:
        hashed = await hasher.hash(f"Aa1!{SURROGATE}")
        assert await hasher.verify(f"Aa1!{SURROGATE}", hashed)
        assert not await hasher.verify(f"Aa1!{SURROGATE}x", hashed)
        assert not await hasher.verify(f"Aa1!{SURROGATE}", None)
        strong = f"Vivid-Otter{SURROGATE}-Quarry-93!"  # passes every rule, surrogate and all
        assert password_problems(strong, username="ann", email="ann@example.com") == []
    finally:
        hasher.close()


# --- request bodies ---------------------------------------------------------------------------

HUGE_INTEGER = "9" * 5000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("42", "The request body must be a JSON object"),
        ("null", "The request body must be a JSON object"),
        ('"x"', "The request body must be a JSON object"),
        ("true", "The request body must be a JSON object"),
        ("[]", "Batching is not enabled"),
        (
            '{"query": "{ health { status } }", "variables": {"n": ' + HUGE_INTEGER + "}}",
            "Unable to parse request body as JSON",
        ),
        ('{"query": "{ health { status } }", "n": -' + HUGE_INTEGER + "}", None),
    ],
    ids=["number", "null", "string", "boolean", "list", "huge-variable", "huge-member"],
)
@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_a_body_that_is_not_a_readable_object_is_bad_request(
    client: httpx.AsyncClient, body: str, message: str | None, accept: str
) -> None:
    response = await post_raw(client, body, accept=accept)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(accept)
    document = response.json()
    assert "data" not in document
    assert code_of(document) == "BAD_REQUEST"
    assert document["errors"][0]["message"] == (message or "Unable to parse request body as JSON")


async def test_an_operation_name_with_an_unpaired_surrogate_is_bad_request(
    client: httpx.AsyncClient,
) -> None:
    body = json.dumps({"query": "query Q { health { status } }", "operationName": SURROGATE})
    response = await post_raw(client, body)
    assert response.status_code == 400, response.text
    document = response.json()
    assert code_of(document) == "BAD_REQUEST"
    assert document["errors"][0]["message"] == f'Unknown operation named "{SURROGATE}".'


async def test_huge_numbers_in_variables_are_refused_with_a_client_code(
    client: httpx.AsyncClient, database: Database
) -> None:
    user, account = await customer(client, currency="EUR")
    before = await row_counts(database)
    big = int("9" * 4000)  # within Python's conversion limit: it reaches the scalars
    page = await gql(client, "query($n: Int) { users(first: $n) { edges { cursor } } }",
                     {"n": big}, token=user.access_token)  # fmt: skip
    assert code_of(page) == "BAD_REQUEST"
    movement = {"accountId": account, "amount": big, "idempotencyKey": key()}
    moved = await gql(client, DEPOSIT, {"input": movement}, token=user.access_token)
    assert_top_level(moved, "VALIDATION_FAILED", 422)
    for value in (1e308, -1e308, 1.5e300):
        floated = await gql(client, DEPOSIT, {"input": {**movement, "amount": value}},
                            token=user.access_token)  # fmt: skip
        assert_top_level(floated, "VALIDATION_FAILED", 422)
    assert await row_counts(database) == before


# --- cursors ----------------------------------------------------------------------------------

FORGED_BOOKMARKS = [
    ">i:" + "9" * 4000,
    ">i:" + "9" * 30,
    ">i:-" + "9" * 20,
    ">i:9223372036854775808",
    ">f:nan",
    ">f:1e308",
    ">s:abc",
    ">s:a\x00b",
    ">n:1e999999",
    ">b:AAAA",
    ">d:0001-01-01",
    ">dt:0001-01-01T00:00:00+05:00",
    ">dt:9999-12-31T23:59:59-05:00",
    ">dt:2026-01-01 00:00:00",
    ">dt:99999-01-01",
    ">t:25:00",
    ">x",
    ">true",
    ">uuid:zz",
    ">i:1~i:2",
    ">i:1\x00",
    ">" + "i:1~" * 50 + "i:1",
]

ZERO_ID = f"uuid:{uuid.UUID(int=0)}"
TWO_COLUMN_BOOKMARKS = [
    f">dt:0001-01-01T00:00:00+05:00~{ZERO_ID}",
    f">dt:9999-12-31T23:59:59-05:00~{ZERO_ID}",
    f">dt:2026-01-01 00:00:00~{ZERO_ID}",
    f">s:abc~{ZERO_ID}",
    f">s:a\x00b~{ZERO_ID}",
    f">i:{2**63}~{ZERO_ID}",
    ">dt:2026-01-01T00:00:00+00:00~i:5",
    f">{ZERO_ID}~dt:2026-01-01T00:00:00+00:00",
    f">dt:2026-01-01T00:00:00+00:00~{ZERO_ID}~i:1",
]


async def test_forged_cursors_are_bad_request(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await signed_in_with_role(client, database, "root", "admin")
    lists = [
        ("sequence:desc", "query($a: String) { me { auditLogs(after: $a) { edges { cursor } } } }"),
        ("sequence:desc", "query($a: String) { auditLogs(after: $a) { edges { cursor } } }"),
        ("created_at:asc", "query($a: String) { users(after: $a) { edges { cursor } } }"),
        ("username:asc", "query($a: String) { users(after: $a, orderBy: {field: USERNAME}) "
                         "{ edges { cursor } } }"),
        ("created_at:asc", "query($a: String) { accountHolders(after: $a) { edges { cursor } } }"),
    ]  # fmt: skip
    before = await row_counts(database)
    for ordering, query in lists:
        two_columns = [] if ordering == "sequence:desc" else TWO_COLUMN_BOOKMARKS
        for bookmark in FORGED_BOOKMARKS + two_columns:
            if ordering == "username:asc" and bookmark.startswith(">s:abc~"):
                continue  # a well-formed username cursor: see below
            cursor = forged_cursor(ordering, bookmark)
            body = await gql(client, query, {"a": cursor}, token=admin.access_token)
            assert code_of(body) == "BAD_REQUEST", (ordering, bookmark, body)
            assert body["errors"][0]["message"] == "`after` is not a valid cursor", body
    for broken in ("!!!", "====", "a", forged_cursor("", "")[:-1] + "\u00e9"):
        body = await gql(client, lists[0][1], {"a": broken}, token=admin.access_token)
        assert code_of(body) == "BAD_REQUEST", body
    well_formed = forged_cursor("username:asc", f">s:abc~{ZERO_ID}")
    page = await gql(client, lists[3][1], {"a": well_formed}, token=admin.access_token)
    assert "errors" not in page, page
    after = await row_counts(database)
    del before["audit_logs"], after["audit_logs"]  # reading the audit trail is itself audited
    assert after == before


# --- dates ------------------------------------------------------------------------------------

STATEMENT = """
query($id: ID!, $from: Date!, $to: Date!) {
  statement(accountId: $id, from: $from, to: $to) { closingBalance { amount } }
}
"""


async def test_a_statement_ending_on_the_last_representable_day_is_validation_failed(
    client: httpx.AsyncClient, database: Database
) -> None:
    user, account = await customer(client, currency="EUR")
    before = await row_counts(database)
    body = await gql(client, STATEMENT, {"id": account, "from": "9999-12-01", "to": "9999-12-31"},
                     token=user.access_token)  # fmt: skip
    error = assert_top_level(body, "VALIDATION_FAILED", 422)
    assert error["message"] == "`to` must be before 9999-12-31."
    assert error["extensions"]["field"] == ["to"]
    assert await row_counts(database) == before
    early = await gql(client, STATEMENT, {"id": account, "from": "0001-01-01", "to": "0001-01-02"},
                      token=user.access_token)  # fmt: skip
    assert early["data"]["statement"] == {"closingBalance": {"amount": 0}}, early


@pytest.mark.parametrize(
    "instant",
    ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00Z",
     "9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00-23:59", "9999-12-31T23:59:59+23:59"],
)  # fmt: skip
async def test_absurd_instants_in_filters_are_refused_or_answered(
    client: httpx.AsyncClient, database: Database, instant: str
) -> None:
    admin = await signed_in_with_role(client, database, "root", "admin")
    user, _ = await customer(client, currency="EUR")
    operations = [
        (AUDIT_LOGS, {"filter": {"from": instant}}, admin),
        (AUDIT_LOGS, {"filter": {"to": instant}}, admin),
        (USERS, {"filter": {"createdAfter": instant}}, admin),
        (USERS, {"filter": {"createdBefore": instant}}, admin),
        ("query($f: TransactionFilter) { me { accounts { edges { node { transactions(filter: $f) "
         "{ edges { cursor } } } } } } }", {"f": {"from": instant, "to": instant}}, user),
    ]  # fmt: skip
    for query, variables, caller in operations:
        body = await gql(client, query, variables, token=caller.access_token)
        if "errors" in body:
            assert code_of(body) == "BAD_REQUEST", body
            assert "data" not in body
        else:
            assert body["data"], body


# --- tokens -----------------------------------------------------------------------------------

IMPOSSIBLE_CLAIMS: list[dict[str, Any]] = [
    {"exp": 1e308},
    {"exp": math.inf},
    {"exp": 10**30},
    {"exp": -1e308},
    {"iat": 1e308},
    {"iat": math.inf},
    {"nbf": math.inf},
    {"nbf": -math.inf},
    {"exp": math.nan},
    {"exp": "soon"},
    {"iat": "then"},
    {"nbf": [1]},
    {"exp": {"at": 1}},
]


@pytest.mark.parametrize("claims", IMPOSSIBLE_CLAIMS, ids=json.dumps)
async def test_a_signed_token_with_impossible_time_claims_is_unauthenticated(
    client: httpx.AsyncClient, claims: dict[str, Any]
) -> None:
    user = await signed_in(client, "ann")
    token = forged_token(user.access_token, **claims)
    body = await gql(client, "{ me { username } }", token=token)
    assert_top_level(body, "UNAUTHENTICATED", 401)
    refreshed = await gql(
        client,
        "mutation($input: RefreshTokenInput!) { refreshToken(input: $input) { accessToken } }",
        {"input": {"refreshToken": forged_token(user.refresh_token, **claims)}},
    )
    assert code_of(refreshed) == "UNAUTHENTICATED", refreshed


async def test_a_websocket_with_impossible_time_claims_is_refused(
    database_url: str, tmp_path: Path
) -> None:
    async with live_app(database_url, tmp_path) as live:
        user = await signed_in(live.http, "ann")
        for claims in ({"exp": 1e308}, {"exp": math.inf}, {"iat": math.inf}):
            token = forged_token(user.access_token, **claims)
            code = await rejection_code(live, {"authorization": f"Bearer {token}"})
            assert code == CLOSE_FORBIDDEN, claims


async def test_a_websocket_message_with_a_huge_number_is_closed_as_invalid(
    database_url: str, tmp_path: Path
) -> None:
    async with live_app(database_url, tmp_path) as live:
        user = await signed_in(live.http, "ann")
        async with live.connect() as ws:
            await init(ws, bearer(user.access_token))
            message = (
                '{"id": "1", "type": "subscribe", "payload": {"query": "{ me { id } }", '
                '"variables": {"n": ' + HUGE_INTEGER + "}}}"
            )
            await ws.send(message)
            code, before = await closed_with(ws)
        assert (code, before) == (CLOSE_INVALID_MESSAGE, [])


async def test_a_subscription_with_a_nul_in_its_filter_is_validation_failed(
    database_url: str, tmp_path: Path
) -> None:
    async with live_app(database_url, tmp_path) as live:
        user = await signed_in(live.http, "ann")
        async with live.connect() as ws:
            await init(ws, bearer(user.access_token))
            await subscribe(ws, "1", EVENTS, {"filter": {"entityType": f"user{NUL}"}})
            message = await receive(ws)
        assert message["type"] == "error", message
        (error,) = message["payload"]
        assert error["extensions"]["code"] == "VALIDATION_FAILED"
        assert error["extensions"]["field"] == ["filter", "entityType"]


async def test_a_websocket_message_nested_too_deep_is_closed_as_invalid(
    database_url: str, tmp_path: Path
) -> None:
    async with live_app(database_url, tmp_path) as live:
        user = await signed_in(live.http, "ann")
        async with live.connect() as ws:
            await init(ws, bearer(user.access_token))
            await ws.send("[" * 30_000 + "]" * 30_000)
            code, before = await closed_with(ws)
        assert (code, before) == (CLOSE_INVALID_MESSAGE, [])


async def test_a_login_with_a_very_long_username_is_invalid_credentials(
    client: httpx.AsyncClient, database: Database
) -> None:
    await signed_in(client, "ann")
    before = await row_counts(database)
    for length in (255, 256, 300, 100_000):
        for name in ("x" * length, "x" * length + "@example.com"):  # a username or an email
            body = await gql(client, LOGIN, {"input": {"username": name, "password": "pw"}})
            assert_top_level(body, "INVALID_CREDENTIALS", 401)
    after = await row_counts(database)
    # Failed logins are audited and counted (per address and per sign-in name): nothing else.
    for counted in ("audit_logs", "rate_limit_counters", "login_throttles"):
        del before[counted], after[counted]
    assert after == before


def test_long_rate_limit_keys_are_stored_as_a_prefix_and_a_digest() -> None:
    short = "login:user:" + "x" * 244
    assert stored_key(short) == short
    long_keys = {stored_key("login:user:" + "x" * size) for size in (245, 246, 10_000)}
    assert len(long_keys) == 3
    assert all(len(key) == MAX_KEY_LENGTH and key.startswith("login:user:x") for key in long_keys)
