"""The HTTP contract (docs/api.md): GraphQL-over-HTTP, request ids, errors, limits, headers."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import httpx
import pytest
from graphql import GraphQLInterfaceType, GraphQLObjectType, get_introspection_query

from core.settings import AppEnv, Settings
from graph.app import create_app
from graph.extensions.measure import UNCOUNTED_DEPTH
from graph.schema import build_schema
from graph.view import LedgerGraphQL
from tests.conftest import make_settings
from tests.support.lifespan import app_lifespan
from tests.support.queries import graphql

FULL_INTROSPECTION = (
    "descriptions", "specified_by_url", "directive_is_repeatable", "schema_description",
    "input_value_deprecation",
)  # fmt: skip

HEALTH = "query Health { health { status version database } }"
GRAPHQL_RESPONSE = "application/graphql-response+json"
PREFLIGHTED = {"graphql-require-preflight": "1"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


async def test_health_query_reports_the_database(client: httpx.AsyncClient) -> None:
    body = await graphql(client, HEALTH)
    assert body["data"] == {"health": {"status": "OK", "version": "0.1.0", "database": True}}
    assert ISO_UTC.match(body["extensions"]["timestamp"])


async def test_request_id_is_echoed_when_sane_and_replaced_when_not(
    client: httpx.AsyncClient,
) -> None:
    sane = await client.post(
        "/graphql", json={"query": HEALTH}, headers={"x-request-id": "abc-123_XYZ.9"}
    )
    assert sane.headers["x-request-id"] == "abc-123_XYZ.9"
    assert sane.json()["extensions"]["requestId"] == "abc-123_XYZ.9"

    insane = await client.post(
        "/graphql", json={"query": HEALTH}, headers={"x-request-id": "bad id\twith spaces"}
    )
    generated = insane.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert insane.json()["extensions"]["requestId"] == generated


async def test_get_runs_queries(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql", params={"query": "{ health { status } }"}, headers=PREFLIGHTED
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"health": {"status": "OK"}}


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_subscription_over_http_is_a_bad_request(
    client: httpx.AsyncClient, method: str
) -> None:
    query = "subscription Feed { auditEvents { action } }"
    if method == "GET":
        response = await client.get(
            "/graphql", params={"query": query}, headers={"graphql-require-preflight": "1"}
        )
    else:
        response = await client.post("/graphql", json={"query": query})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["message"] == f"subscriptions are not allowed when using {method}"
    assert (error["extensions"]["code"], error["extensions"]["status"]) == ("BAD_REQUEST", 400)


async def test_mutation_over_get_is_405_with_allow_header(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql", params={"query": "mutation { __typename }"}, headers=PREFLIGHTED
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    error = response.json()["errors"][0]
    assert error["extensions"]["status"] == 405
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]


async def test_validation_error_is_400_without_data_for_graphql_response_json(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ nope }"}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert body["errors"][0]["extensions"]["status"] == 400


async def test_validation_error_is_200_for_legacy_application_json(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ nope }"}, headers={"accept": "application/json"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "data" not in response.json()


async def test_syntax_error_is_bad_request_and_not_masked(client: httpx.AsyncClient) -> None:
    body = await graphql(client, "{ health { ")
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"].startswith("Syntax Error")


async def test_unparseable_json_body_is_400_in_the_error_model(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]


async def test_unsupported_content_type_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b"query { health { status } }", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["errors"][0]["extensions"]["status"] == 415


async def test_unacceptable_accept_header_is_406(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": HEALTH}, headers={"accept": "image/png"}
    )
    assert response.status_code == 406


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient, settings: Settings) -> None:
    padding = "#" * (settings.max_body_bytes + 10)
    declared = await client.post("/graphql", json={"query": f"{{ health {{ status }} }} {padding}"})
    assert declared.status_code == 413
    assert declared.json()["errors"][0]["extensions"]["status"] == 413

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ health { status } }", "x": "'
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"a" * 65536
        yield b'"}'

    streamed = await client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("{ " + " ".join(f"a{i}: health {{ status }}" for i in range(40)) + " }", "aliases"),
        ("{ health { " + "status " * 3000 + "} }", "token"),
    ],
)
async def test_query_shape_limits_are_bad_requests(
    client: httpx.AsyncClient, query: str, fragment: str
) -> None:
    body = await graphql(client, query)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert fragment in error["message"].lower()
    assert "data" not in body


async def test_node_with_a_malformed_id_is_bad_request(client: httpx.AsyncClient) -> None:
    body = await graphql(client, '{ node(id: "not-an-id") { id } }')
    assert body["data"] == {"node": None}
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["extensions"]["field"] == ["id"]


async def test_node_of_an_unknown_type_is_null(client: httpx.AsyncClient) -> None:
    # base64("Nothing:1"): well-formed, but no such type can be fetched.
    body = await graphql(client, '{ node(id: "Tm90aGluZzox") { id } }')
    assert body == {"data": {"node": None}, "extensions": body["extensions"]}


async def test_security_headers_are_set(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert (
        response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    )
    assert response.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in response.headers


async def test_health_endpoints(client: httpx.AsyncClient) -> None:
    live = await client.get("/health/live")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}


async def test_metrics_count_operations_by_name_and_outcome(client: httpx.AsyncClient) -> None:
    await graphql(client, HEALTH)
    await graphql(client, "query Broken { nope }")
    text = (await client.get("/metrics")).text
    assert (
        'ledgerql_graphql_operations_total{operation="Health",outcome="success",type="query"} 1.0'
        in text
    )
    assert (
        'ledgerql_graphql_operations_total{operation="Broken",outcome="rejected",type="query"} 1.0'
        in text
    )
    assert 'ledgerql_http_requests_total{method="POST",route="/graphql",status="200"} 2.0' in text
    assert "ledgerql_graphql_operation_duration_seconds_bucket" in text


@pytest.fixture
async def configured_client(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    overrides = getattr(request, "param", {})
    app = create_app(make_settings(database_url, tmp_path, **overrides))
    async with app_lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.mark.parametrize("configured_client", [{"metrics_token": "m" * 40}], indirect=True)
async def test_metrics_token_is_enforced_when_configured(
    configured_client: httpx.AsyncClient,
) -> None:
    assert (await configured_client.get("/metrics")).status_code == 401
    wrong = await configured_client.get("/metrics", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = await configured_client.get("/metrics", headers={"authorization": f"Bearer {'m' * 40}"})
    assert right.status_code == 200


@pytest.mark.parametrize(
    "configured_client", [{"cors_origins": ["https://app.example.com"]}], indirect=True
)
async def test_cors_allows_only_configured_origins(configured_client: httpx.AsyncClient) -> None:
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
    }
    allowed = await configured_client.options(
        "/graphql", headers={"origin": "https://app.example.com", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    denied = await configured_client.options(
        "/graphql", headers={"origin": "https://evil.example.com", **preflight}
    )
    assert denied.status_code == 400
    assert "access-control-allow-origin" not in denied.headers


async def test_graphiql_is_served_to_browsers_outside_production(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


@pytest.mark.parametrize(
    "configured_client",
    [
        {
            "app_env": AppEnv.PRODUCTION,
            "jwt_secret": "p" * 48,
            "audit_hmac_key": "h" * 48,
            "graphiql_enabled": True,
        }
    ],
    indirect=True,
)
async def test_production_never_serves_graphiql_and_sends_hsts(
    configured_client: httpx.AsyncClient,
) -> None:
    response = await configured_client.get("/graphql", headers={"accept": "text/html"})
    assert "graphiql" not in response.text.lower()
    assert response.status_code in (400, 404, 406)
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_syntax_errors_pass_through_the_operation_extensions(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql", json={"query": "query Syntax { health {", "operationName": "Syntax"}
    )
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    text = (await client.get("/metrics")).text
    labels = 'operation="Syntax",outcome="rejected",type="unknown"'
    assert f"ledgerql_graphql_operations_total{{{labels}}} 1.0" in text


@pytest.mark.parametrize(
    "configured_client",
    [{"app_env": AppEnv.PRODUCTION, "jwt_secret": "p" * 48, "audit_hmac_key": "h" * 48}],
    indirect=True,
)
async def test_production_hides_the_schema(configured_client: httpx.AsyncClient) -> None:
    introspection = await graphql(configured_client, "{ __schema { types { name } } }")
    assert introspection["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "data" not in introspection
    typo = await graphql(configured_client, "{ helth { status } }")
    assert "Did you mean" not in typo["errors"][0]["message"]


async def test_introspection_and_suggestions_outside_production(client: httpx.AsyncClient) -> None:
    introspection = await graphql(client, "{ __schema { queryType { name } } }")
    assert introspection["data"] == {"__schema": {"queryType": {"name": "Query"}}}
    typo = await graphql(client, "{ helth { status } }")
    assert "Did you mean 'health'?" in typo["errors"][0]["message"]


@pytest.mark.parametrize("options", [{}, dict.fromkeys(FULL_INTROSPECTION, True)])
async def test_the_standard_introspection_query_of_tools_answers(
    client: httpx.AsyncClient, options: dict[str, bool]
) -> None:
    body = await graphql(client, get_introspection_query(**options))
    assert "errors" not in body, body
    types = {named["name"] for named in body["data"]["__schema"]["types"]}
    assert {"Query", "Mutation", "Subscription", "Account", "Money", "Long"} <= types


async def test_a_cycle_through_introspection_fields_is_still_refused_for_its_depth(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    selection = "name"
    for _ in range(settings.graphql_max_depth // 2 + 1):  # `fields` and `type` add one each
        selection = f"fields {{ type {{ ofType {{ {selection} }} }} }}"
    body = await graphql(client, f'{{ __type(name: "Query") {{ {selection} }} }}')
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "data" not in body
    assert re.search(r"(?i)maximum (operation|introspection) depth", body["errors"][0]["message"])


def test_no_type_of_the_schema_has_a_field_named_like_the_uncounted_introspection_ones(
    settings: Settings,
) -> None:
    types = build_schema(settings)._schema.type_map.values()
    ours = [t for t in types if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)]
    for named in (t for t in ours if not t.name.startswith("__")):
        assert not UNCOUNTED_DEPTH & set(named.fields), named.name


async def test_parsed_and_validated_documents_are_cached(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    from strawberry.extensions.parser_cache import _get_parse_cache

    from graph.extensions.validation import validation_cache

    parse = _get_parse_cache(settings.graphql_cache_size)
    validate = validation_cache(settings.graphql_cache_size)
    query = "query CacheProbe { health { version } }"
    await graphql(client, query)
    parse_hits, validate_hits = parse.cache_info().hits, validate.cache_info().hits
    await graphql(client, query)
    assert parse.cache_info().hits == parse_hits + 1
    assert validate.cache_info().hits == validate_hits + 1
    assert parse.cache_info().maxsize == settings.graphql_cache_size


def test_responses_are_compact_json_and_huge_integers_still_encode() -> None:
    encode = LedgerGraphQL.encode_json
    document = {"data": {"me": {"name": "Zoë", "amount": 12, "tags": [True, None, 1.5]}}}
    encoded = encode(cast(LedgerGraphQL, None), document)
    assert isinstance(encoded, str)  # text frames over WebSocket, not binary
    assert encoded == json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    huge = {"value": 2**70}  # beyond orjson's 64-bit integers: the standard library takes over
    assert json.loads(encode(cast(LedgerGraphQL, None), huge)) == huge
