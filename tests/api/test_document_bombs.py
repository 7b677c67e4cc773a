"""Generated fragment, alias, directive and overlapping-field bombs: refused at once, run nothing.

Each bomb is the largest of its kind the 2,000-token limit lets through (tests/support/bombs.py).
The time bound is generous (1 s, for a loaded CI machine): before the fix, the 20-fragment
doubling chain alone took 7.5 s and each further fragment doubled it. bench/bombs.py measures.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from graphql import parse
from starlette.applications import Starlette

from graph.extensions.measure import DocumentLimits, check_document
from tests.support.apps import code_of, refused_without_sql
from tests.support.bombs import BOMBS, bombs, fragment_bomb, largest
from tests.support.identity import gql

GENEROUS_SECONDS = 1.0
DEFAULTS = DocumentLimits(
    max_fields=500, max_field_repeats=20, max_depth=12, max_aliases=30, max_root_mutation_fields=10
)
ATTACK_RUN = fragment_bomb(19)  # the document of the attack run (749 bytes, spaced differently)


def test_the_attack_run_document_is_the_one_reported() -> None:
    assert len(ATTACK_RUN) < 800
    assert ATTACK_RUN.startswith("{ ...F0 } fragment F0 on Query { ...F1 ...F1 } fragment F1 ")
    assert ATTACK_RUN.endswith(
        "fragment F18 on Query { ...F19 ...F19 } fragment F19 on Query { __typename }"
    )


@pytest.mark.parametrize("name", list(BOMBS))
async def test_each_bomb_is_bad_request_at_once_and_runs_no_sql(
    client: httpx.AsyncClient, app: Starlette, name: str
) -> None:
    document = largest(BOMBS[name])
    started = time.perf_counter()
    body = await refused_without_sql(client, app, document)
    assert time.perf_counter() - started < GENEROUS_SECONDS
    assert code_of(body) == "BAD_REQUEST"
    assert all(error["extensions"]["code"] == "BAD_REQUEST" for error in body["errors"])


@pytest.mark.parametrize("count", [19, 40, 80, 120, 150])
async def test_fragment_doubling_chains_are_refused_whatever_their_length(
    client: httpx.AsyncClient, app: Starlette, count: int
) -> None:
    started = time.perf_counter()
    body = await refused_without_sql(client, app, fragment_bomb(count))
    assert time.perf_counter() - started < GENEROUS_SECONDS
    assert body["errors"][0]["message"] == (
        f"Fragment 'F{count - 5}' selects '__typename' 32 times once its fragments are merged. "
        "Allowed: 20"
    )


async def test_health_answers_while_bombs_are_processed(client: httpx.AsyncClient) -> None:
    documents = list(bombs().values())
    async with asyncio.timeout(30):
        *refused, live = await asyncio.gather(
            *(gql(client, document) for document in documents), client.get("/health/live")
        )
    assert live.status_code == 200
    assert [code_of(body) for body in refused] == ["BAD_REQUEST"] * len(documents)


def test_counts_are_numbers_not_walks() -> None:
    """2^150 fields are counted from each fragment's totals, in well under a second."""
    limits = DocumentLimits(
        max_fields=2**200, max_field_repeats=2**200, max_depth=12, max_aliases=2**200,
        max_root_mutation_fields=10,
    )  # fmt: skip
    started = time.perf_counter()
    assert check_document(parse(fragment_bomb(150)), limits) == []
    aliased = parse(
        "{ ...F0 } "
        + " ".join(
            f"fragment F{n} on Query {{ a: __typename ...F{n + 1} ...F{n + 1} }}"
            for n in range(150)
        )
        + " fragment F150 on Query { __typename }"
    )
    assert check_document(aliased, limits) == []
    limits = DocumentLimits(
        max_fields=2**200, max_field_repeats=2**200, max_depth=12, max_aliases=30,
        max_root_mutation_fields=10,
    )  # fmt: skip
    assert check_document(aliased, limits) == [f"{2**150 - 1} aliases found. Allowed: 30"]
    assert time.perf_counter() - started < GENEROUS_SECONDS


def test_depth_through_fragments_is_measured_like_strawberrys_limiter() -> None:
    def nested(depth: int) -> str:
        chain = " ".join(
            f"fragment U{n} on User {{ accountHolder {{ user {{ ...U{n + 1} }} }} }}"
            for n in range(depth)
        )
        return f"query Deep {{ me {{ ...U0 }} }} {chain} fragment U{depth} on User {{ id }}"

    # `me` plus two levels per fragment: 1 + 2 * 5 = 11 and 1 + 2 * 6 = 13 levels.
    assert check_document(parse(nested(5)), DEFAULTS) == []
    assert check_document(parse(nested(6)), DEFAULTS) == [
        "'Deep' exceeds maximum operation depth of 12"
    ]
    introspection = (
        "{ " + '__type(name: "User") { fields { type { ' * 4 + "name" + " } } }" * 4 + " }"
    )
    assert check_document(parse(introspection), DEFAULTS) == []


def test_cycles_and_unknown_fragments_are_left_to_validation() -> None:
    cyclic = (
        "{ ...A ...Missing } fragment A on Query { ...B } fragment B on Query { ...A __typename }"
    )
    assert check_document(parse(cyclic), DEFAULTS) == []


def test_an_unused_fragment_bomb_is_refused_too() -> None:
    document = fragment_bomb(60).replace("{ ...F0 }", "{ __typename }", 1)
    assert check_document(parse(document), DEFAULTS) == [
        "Fragment 'F55' selects '__typename' 32 times once its fragments are merged. Allowed: 20"
    ]


def test_the_fields_cap_counts_every_expanded_field() -> None:
    wide = "{ " + " ".join(f"f{n}: health {{ status }}" for n in range(250)) + " }"
    limits = DocumentLimits(
        max_fields=500, max_field_repeats=20, max_depth=12, max_aliases=1000,
        max_root_mutation_fields=10,
    )  # fmt: skip
    assert check_document(parse(wide), limits) == []
    assert check_document(parse(wide.replace("{ status }", "{ status version }")), limits) == [
        "The anonymous operation selects more than 500 fields once its fragments are expanded."
    ]


def test_fields_merging_into_one_response_entry_are_counted_across_parents() -> None:
    """20 `me` fields of 12 `accountHolder` each: 240 fields merge into `me.accountHolder`."""
    document = "{ " + ("me { " + "accountHolder { id } " * 12 + "} ") * 20 + "}"
    assert check_document(parse(document), DEFAULTS) == [
        "The anonymous operation selects 'me.accountHolder' 240 times once its fragments are "
        "merged. Allowed: 20"
    ]
    within = "{ " + ("me { " + "accountHolder { id } " + "} ") * 20 + "}"
    assert check_document(parse(within), DEFAULTS) == []


async def test_a_document_within_every_limit_still_runs(client: httpx.AsyncClient) -> None:
    query = (
        "query Q { ...A ...A h: health { status } } "
        "fragment A on Query { health { status version } ...B } "
        "fragment B on Query { health { database } }"
    )
    body = await gql(client, query)
    assert body["data"]["health"]["status"] == "OK"
    assert body["data"]["h"] == {"status": "OK"}
