"""Schemathesis extensions for fuzzing LedgerQL, and the data a fuzz run starts from.

scripts/schemathesis.sh uses this module twice:

* `python scripts/schemathesis_hooks.py prepare URL CONFIG` registers and signs in the throwaway
  fuzz user (credentials from FUZZ_USERNAME and FUZZ_PASSWORD), gives it an account holder, two
  EUR accounts with money on them, a transfer and a card, writes a Schemathesis configuration file
  CONFIG whose dictionary feeds the ids of the user and those objects into ID arguments half of the
  time (random ids alone never get past NOT_FOUND), and prints three access tokens: two sessions
  of the fuzz user and one of the fuzz admin FUZZ_ADMIN_USERNAME (same password, created by the
  caller with `ledgerql create-admin`). The admin's own id stays out of the dictionary, so that
  the admin run cannot deactivate, delete or demote its own account.
* Schemathesis loads it through SCHEMATHESIS_HOOKS, which registers the check below.

Schemathesis' own `not_a_server_error` check cannot be used on LedgerQL as it is: for GraphQL it
counts every error that carries a `path` (one raised in a resolver) as a server error unless its
`extensions.code` is one of Apollo's client codes, so the API's ordinary refusals (UNAUTHENTICATED,
FORBIDDEN, NOT_FOUND, VALIDATION_FAILED, ...) would all be reported. The check
`not_a_ledgerql_server_error` fails a response only when the server itself broke: its HTTP status
is 5xx, or one of its GraphQL errors has `extensions.code` INTERNAL or an `extensions.status` of
5xx (UNAVAILABLE). Every failure names the request id, which finds the traceback in the server log.

The custom scalars of the schema that appear in inputs (Date, DateTime, Long) are among those
Schemathesis generates by itself; JSON only appears in outputs, so no scalar strategies are needed.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import schemathesis
from schemathesis.core.failures import ServerError
from schemathesis.graphql.checks import GraphQLServerError

if TYPE_CHECKING:
    from graphql.error import GraphQLFormattedError

SERVER_ERROR_CODES = frozenset({"INTERNAL"})
DICTIONARY_PROBABILITY = 0.5
"""How often an ID argument that a dictionary binds gets one of the fuzz user's own ids."""
ID_ARGUMENTS = (
    "*.*.id",
    "*.*.accountId",
    "*.*.input.accountId",
    "*.*.input.fromAccountId",
    "*.*.input.toAccountId",
    "*.*.input.cardId",
    "*.*.input.userId",
    "*.*.filter.userId",
)
"""Arguments fed from the dictionary; session ids stay out (revoking one ends the run's auth)."""


def _server_errors(payload: object) -> list[dict[str, Any]]:
    """The GraphQL errors of a response body that report a failure of the server itself."""
    if not isinstance(payload, dict) or not isinstance(payload.get("errors"), list):
        return []
    found = []
    for error in payload["errors"]:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        if not isinstance(extensions, dict):
            continue
        status = extensions.get("status")
        if extensions.get("code") in SERVER_ERROR_CODES or (
            isinstance(status, int) and status >= 500
        ):
            found.append(error)
    return found


@schemathesis.check
def not_a_ledgerql_server_error(ctx: Any, response: Any, case: Any) -> None:
    """Fail on an HTTP 5xx or a GraphQL error coded INTERNAL (or with a 5xx status)."""
    del ctx
    if response.status_code >= 500:
        request_id = (response.headers.get("x-request-id") or ["?"])[0]
        raise ServerError(
            operation=case.operation.label,
            status_code=response.status_code,
            message=f"HTTP {response.status_code}; X-Request-ID: {request_id}",
        )
    try:
        payload = json.loads(response.content or b"null")
    except ValueError:
        return
    errors = _server_errors(payload)
    if errors:
        ids = sorted({str((e.get("extensions") or {}).get("requestId")) for e in errors})
        raise GraphQLServerError(
            operation=case.operation.label,
            message=f"{errors[0]['message']} (requestId: {', '.join(ids)})",
            errors=cast("list[GraphQLFormattedError]", errors),
        )


class SetupError(RuntimeError):
    """The fuzz user or its data could not be created."""


def _call(url: str, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
    """POST one GraphQL operation and return the `data` of its answer."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our own server
        answer = json.load(response)
    if answer.get("errors"):
        raise SetupError(f"{query.split('(', maxsplit=1)[0]}: {answer['errors']}")
    return answer["data"]


def _mutate(url: str, token: str, field: str, input_type: str, values: dict[str, Any]) -> Any:
    """Run `field(input: values)` and return its payload, failing on any payload error."""
    selection = {
        "createAccountHolder": "accountHolder { id }",
        "openAccount": "account { id }",
        "deposit": "transaction { id }",
        "transfer": "transfer { id }",
        "issueCard": "card { id }",
    }[field]
    query = (
        f"mutation Seed{field[0].upper()}{field[1:]}($input: {input_type}!) "
        f"{{ {field}(input: $input) {{ {selection} errors {{ code message }} }} }}"
    )
    payload = _call(url, query, {"input": values}, token)[field]
    if payload["errors"]:
        raise SetupError(f"{field}: {payload['errors']}")
    return payload


def prepare(
    url: str, username: str, password: str, admin_username: str
) -> tuple[list[str], list[str]]:
    """Create the fuzz user's objects; return three access tokens and the objects' ids.

    The tokens are two sessions of the fuzz user and one of the (existing) fuzz admin.
    """
    register = (
        "mutation Register($input: RegisterInput!) "
        "{ register(input: $input) { user { id } errors { code message } } }"
    )
    values = {"username": username, "email": f"{username}@example.com", "password": password}
    registered = _call(url, register, {"input": values})["register"]
    if registered["errors"]:
        raise SetupError(f"register: {registered['errors']}")
    login = "mutation Login($input: LoginInput!) { login(input: $input) { accessToken } }"
    tokens = [
        _call(url, login, {"input": {"username": name, "password": password}})["login"][
            "accessToken"
        ]
        for name in (username, username, admin_username)
    ]
    token = tokens[0]
    holder = _mutate(
        url, token, "createAccountHolder", "CreateAccountHolderInput",
        {"firstName": "Fuzz", "lastName": "Tester", "dateOfBirth": "1990-01-01"},
    )  # fmt: skip
    accounts = [
        _mutate(url, token, "openAccount", "OpenAccountInput", {"type": kind, "currency": "EUR"})
        for kind in ("CHECKING", "SAVINGS")
    ]
    first, second = (account["account"]["id"] for account in accounts)
    movement = {"accountId": first, "amount": 100_000, "idempotencyKey": "fuzz-seed-deposit"}
    _mutate(url, token, "deposit", "MoneyMovementInput", movement)
    transfer = _mutate(
        url, token, "transfer", "TransferInput",
        {"fromAccountId": first, "toAccountId": second, "amount": 2_500,
         "idempotencyKey": "fuzz-seed-transfer"},
    )  # fmt: skip
    card = _mutate(url, token, "issueCard", "IssueCardInput", {"accountId": first, "type": "DEBIT"})
    ids = [
        registered["user"]["id"],
        holder["accountHolder"]["id"],
        first,
        second,
        transfer["transfer"]["id"],
        card["card"]["id"],
    ]
    return tokens, ids


def write_config(path: Path, ids: list[str]) -> None:
    """Write a Schemathesis configuration that feeds `ids` into ID arguments."""
    lines = [
        "# Written by scripts/schemathesis_hooks.py for one fuzz run: the fuzz user's own ids.",
        "[dictionaries.ledgerql-ids]",
        f"values = {json.dumps(ids)}",
        "",
        "[parameters]",
        *(
            f'"{argument}" = {{ dictionary = "ledgerql-ids", '
            f"probability = {DICTIONARY_PROBABILITY} }}"
            for argument in ID_ARGUMENTS
        ),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str]) -> int:
    """`prepare URL CONFIG`: set up the fuzz user, write CONFIG and print three access tokens."""
    if len(argv) != 3 or argv[0] != "prepare":
        print("usage: schemathesis_hooks.py prepare GRAPHQL_URL CONFIG_FILE", file=sys.stderr)
        return 2
    url, config = argv[1], Path(argv[2])
    try:
        tokens, ids = prepare(
            url, os.environ["FUZZ_USERNAME"], os.environ["FUZZ_PASSWORD"],
            os.environ["FUZZ_ADMIN_USERNAME"],
        )  # fmt: skip
    except (SetupError, OSError, KeyError) as error:
        print(f"preparing the fuzz user failed: {error!r}", file=sys.stderr)
        return 1
    write_config(config, ids)
    print("\n".join(tokens))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
