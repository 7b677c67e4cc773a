"""The response cache's rules without a database: which documents, the byte budget, expiry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from graphql import parse

from db.audit.entries import AuditEntry
from db.data_versions import Changes
from db.models import AuditAction
from graph.response_cache import (
    CachedAnswer,
    CacheKey,
    DocumentVerdicts,
    ResponseCache,
    cacheable_document,
    canonical_variables,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "document",
    [
        "{ me { id accounts { edges { node { id balance { amount } } } } } }",
        "query Mine { me { roles { name } sessions { id current } } }",
        '{ account(id: "x") { cards { last4 } transactions { edges { node { id } } } } }',
        "query A { me { ...Me } } fragment Me on User { id email __typename }",
        "{ me { accountHolder { accounts { edges { node { id } } } } } }",
    ],
)
def test_queries_of_versioned_data_are_cacheable(document: str) -> None:
    assert cacheable_document(parse(document), None) is True


@pytest.mark.parametrize(
    "document",
    [
        "mutation { logout { revokedSessions } }",
        "subscription { auditEvents { id } }",
        "{ me { auditLogs { totalCount } } }",
        "{ auditLogs { totalCount } }",
        "{ auditChain { valid } }",
        "{ ledgerCheck { valid } }",
        "{ health { status } }",
        "{ roles { name } }",
        '{ node(id: "x") { id } }',
        "{ __schema { queryType { name } } }",
        '{ __type(name: "User") { name } }',
        "query A { me { ...Me } } fragment Me on User { ...Deeper } fragment Deeper on User "
        "{ auditLogs { totalCount } }",
        "query A { ...Root } fragment Root on Query { health { status } }",
        "{ me { ... on User { auditLogs { totalCount } } } }",
        "{ me { ...Missing } }",
    ],
)
def test_other_operations_and_unversioned_fields_are_not(document: str) -> None:
    assert cacheable_document(parse(document), None) is False


def test_the_named_operation_decides() -> None:
    document = parse("query Mine { me { id } } query Health { health { status } }")
    assert cacheable_document(document, "Mine") is True
    assert cacheable_document(document, "Health") is False
    assert cacheable_document(document, None) is False  # ambiguous: nothing to decide on


def test_verdicts_are_memoized_within_their_bound() -> None:
    verdicts = DocumentVerdicts(max_entries=1)
    mine = "{ me { id } }"
    assert verdicts.cacheable(mine, None, parse(mine)) is True
    assert verdicts.cacheable(mine, None, parse("{ health { status } }")) is True  # memoized
    verdicts.cacheable("{ health { status } }", None, parse("{ health { status } }"))
    assert verdicts.cacheable(mine, None, parse("{ health { status } }")) is False  # evicted


def test_variables_are_canonical_and_only_plain_json() -> None:
    assert canonical_variables({"b": 1, "a": [1, 2]}) == canonical_variables({"a": [1, 2], "b": 1})
    assert canonical_variables(None) == b"{}"
    assert canonical_variables({"big": 2**70}) is None


def key(number: int) -> CacheKey:
    """A distinct key."""
    return (b"doc", None, b"{}", uuid.UUID(int=number), uuid.UUID(int=0), (), 0)


def answer(number: int, *, valid_until: datetime | None = None) -> CachedAnswer:
    """An answer of a known size."""
    stored = CachedAnswer.of(key(number), {"me": {"n": number}}, [], valid_until)
    assert stored is not None
    return stored


def test_the_byte_budget_evicts_the_least_recently_used() -> None:
    size = answer(1).size
    cache = ResponseCache(max_bytes=2 * size)
    cache.put(key(1), answer(1))
    cache.put(key(2), answer(2))
    assert cache.get(key(1), NOW) is not None  # 1 is now the most recently used
    cache.put(key(3), answer(3))
    assert (len(cache), cache.size_bytes) == (2, 2 * size)
    assert cache.get(key(2), NOW) is None
    assert cache.get(key(1), NOW) is not None
    assert cache.get(key(3), NOW) is not None
    cache.put(key(3), answer(3))  # replacing counts once
    assert (len(cache), cache.size_bytes) == (2, 2 * size)


def test_an_answer_larger_than_the_budget_is_not_stored() -> None:
    cache = ResponseCache(max_bytes=answer(1).size - 1)
    cache.put(key(1), answer(1))
    assert (len(cache), cache.size_bytes) == (0, 0)


def test_an_answer_the_clock_changes_expires_then() -> None:
    cache = ResponseCache(max_bytes=10_000)
    cache.put(key(1), answer(1, valid_until=NOW + timedelta(seconds=1)))
    assert cache.get(key(1), NOW) is not None
    assert cache.get(key(1), NOW + timedelta(seconds=1)) is None
    assert (len(cache), cache.size_bytes) == (0, 0)


def test_hits_get_copies_of_their_own() -> None:
    read = AuditEntry(action=AuditAction.READ, entity_type="Card", metadata={"account_ids": ["a"]})
    stored = CachedAnswer.of(key(1), {"me": {"n": 1}}, [read], None)
    assert stored is not None
    read.metadata = {"changed": True}  # the operation's own entry changes later: no effect
    data, reads = stored.fresh_data(), stored.fresh_audit_reads()
    data["me"]["n"] = 2
    assert reads[0].metadata is not None
    reads[0].metadata["account_ids"].append("b")
    assert stored.fresh_data() == {"me": {"n": 1}}
    assert [entry.metadata for entry in stored.fresh_audit_reads()] == [{"account_ids": ["a"]}]


def test_changes_know_whether_anything_was_noted() -> None:
    assert not Changes()
    assert Changes(session_ids={uuid.UUID(int=1)})
