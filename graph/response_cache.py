"""The response cache: answers of queries that read only the caller's own data, kept in memory.

What may be cached (`cacheable_document`, decided once per document and operation name): a
query (never a mutation or subscription) whose selections, fragments included, name none of
`UNVERSIONED_FIELDS` anywhere nor `UNVERSIONED_ROOT_FIELDS` at its root. Those read data no
user's data version follows: the audit trail (its rows are written by reads too, so they do not
raise versions), the ledger check, service health, every role, any node by id (an audit row is
a node) and introspection. Who may be cached is decided per request by the extension
(graph/extensions/response_cache.py): a signed-in caller without any "see everybody" permission.

An answer is keyed by the document (a hash of its text), the operation name, the variables
(canonical JSON), the caller's user and session (a session's `current` depends on it), the
permission set, and the caller's data version as authentication read it. Every write
transaction renews the versions of the users whose data it changed (db/data_versions.py), so
an answer cached before a write is never served after it: its key is never asked for again and
it ages out of the least-recently-used order. The version is read by the first statement of
the operation's snapshot, so an answer and its key come from the same snapshot. Where the clock
alone changes an answer (a listed session expires), the answer carries that moment and is
dropped once it passes.

Memory is bounded by `RESPONSE_CACHE_BYTES` (each entry counted as its serialized size), least
recently used first out. Only the response `data` is kept (its `extensions` are always fresh),
with the READ audit rows the operation queued, which every hit queues again.

Written here because no maintained package caches GraphQL responses for Strawberry with keys
tied to a data version.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)

from db.audit.entries import AuditEntry

UNVERSIONED_FIELDS = frozenset(
    {"auditLogs", "auditLog", "auditChain", "verifyAuditChain", "ledgerCheck", "health",
     "__schema", "__type"}
)  # fmt: skip
"""Fields, at any depth, whose values no data version follows: their queries are not cached."""
UNVERSIONED_ROOT_FIELDS = frozenset({"roles", "node"})
"""Root fields of the same kind (below the root, `roles` and `node` are the caller's own)."""

CacheKey = tuple[bytes, str | None, bytes, uuid.UUID, uuid.UUID, tuple[str, ...], int]
"""(document hash, operation name, variables, user, session, permissions, data version)."""


def document_hash(query: str) -> bytes:
    """A short digest of a document's text, for keys."""
    return hashlib.blake2b(query.encode(), digest_size=16).digest()


def canonical_variables(variables: Mapping[str, Any] | None) -> bytes | None:
    """Variables as JSON with sorted keys; None when they are not plain JSON (not cached)."""
    try:
        return orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None


def _operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    operations = [
        definition
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
        and (
            operation_name is None or (definition.name and definition.name.value == operation_name)
        )
    ]
    return operations[0] if len(operations) == 1 else None


def _selects_unversioned(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: set[str],
    *,
    root: bool,
) -> bool:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name in UNVERSIONED_FIELDS or (root and name in UNVERSIONED_ROOT_FIELDS):
                return True
            below = selection.selection_set
            if below is not None and _selects_unversioned(below, fragments, seen, root=False):
                return True
        elif isinstance(selection, InlineFragmentNode):
            if _selects_unversioned(selection.selection_set, fragments, seen, root=root):
                return True
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in seen:
                continue
            seen.add(name)
            fragment = fragments.get(name)
            if fragment is None or _selects_unversioned(
                fragment.selection_set, fragments, seen, root=root
            ):
                return True
    return False


def cacheable_document(document: DocumentNode, operation_name: str | None) -> bool:
    """Whether the operation is a query that selects only data the caller's version follows."""
    operation = _operation(document, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY:
        return False
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    return not _selects_unversioned(operation.selection_set, fragments, set(), root=True)


class DocumentVerdicts:
    """`cacheable_document`, memoized by document text and operation name (bounded, LRU)."""

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._verdicts: OrderedDict[tuple[str, str | None], bool] = OrderedDict()

    def cacheable(self, query: str, operation_name: str | None, document: DocumentNode) -> bool:
        """The verdict for this document and operation, computed on first sight."""
        key = (query, operation_name)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._verdicts[key] = cacheable_document(document, operation_name)
            if len(self._verdicts) > self._max_entries:
                self._verdicts.popitem(last=False)
        else:
            self._verdicts.move_to_end(key)
        return verdict


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """One stored answer: its `data` as JSON, the READ rows it queued, and when it expires."""

    data: bytes
    audit_reads: tuple[AuditEntry, ...]
    valid_until: datetime | None
    size: int

    @classmethod
    def of(
        cls,
        key: CacheKey,
        data: dict[str, Any],
        audit_reads: list[AuditEntry],
        valid_until: datetime | None,
    ) -> CachedAnswer | None:
        """An answer to store; None when its data is not plain JSON."""
        try:
            encoded = orjson.dumps(data)
            rows = orjson.dumps(audit_reads, default=str)  # only measured: any id type will do
        except TypeError:
            return None
        reads = tuple(copy.deepcopy(entry) for entry in audit_reads)
        size = len(encoded) + len(rows) + len(key[2]) + sum(len(name) for name in key[5])
        return cls(data=encoded, audit_reads=reads, valid_until=valid_until, size=size)

    def fresh_data(self) -> dict[str, Any]:
        """A copy of the data of its own, for one response."""
        data: dict[str, Any] = orjson.loads(self.data)
        return data

    def fresh_audit_reads(self) -> list[AuditEntry]:
        """Copies of the READ rows, to queue for one more request."""
        return [copy.deepcopy(entry) for entry in self.audit_reads]


class ResponseCache:
    """Answers by key, within a byte budget, least recently used evicted first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size_bytes = 0
        self._answers: OrderedDict[CacheKey, CachedAnswer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: CacheKey, now: datetime) -> CachedAnswer | None:
        """The answer stored under `key` unless the clock has changed it since."""
        answer = self._answers.get(key)
        if answer is None:
            return None
        if answer.valid_until is not None and answer.valid_until <= now:
            self._drop(key)
            return None
        self._answers.move_to_end(key)
        return answer

    def put(self, key: CacheKey, answer: CachedAnswer) -> None:
        """Store an answer, evicting the least recently used ones until it fits."""
        if key in self._answers:
            self._drop(key)
        if answer.size > self.max_bytes:
            return
        while self.size_bytes + answer.size > self.max_bytes:
            oldest = next(iter(self._answers))
            self._drop(oldest)
        self._answers[key] = answer
        self.size_bytes += answer.size

    def _drop(self, key: CacheKey) -> None:
        self.size_bytes -= self._answers.pop(key).size
