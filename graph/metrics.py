"""Prometheus metrics: HTTP requests, GraphQL operations, ledger checks, the response cache."""

from __future__ import annotations

import re

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_OPERATION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_OPERATION_LABELS = 500
disable_created_metrics()  # type: ignore[no-untyped-call] # `_created` series double the output and no dashboard reads them
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """One registry per app, so several apps (tests, workers) never share counters."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "ledgerql_http_requests",
            "HTTP requests served, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "ledgerql_http_request_duration_seconds",
            "HTTP request latency, by method and route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.operations = Counter(
            "ledgerql_graphql_operations",
            "GraphQL operations, by operation name, type and outcome.",
            ["operation", "type", "outcome"],
            registry=self.registry,
        )
        self.operation_latency = Histogram(
            "ledgerql_graphql_operation_duration_seconds",
            "GraphQL operation latency, by operation name, type and outcome.",
            ["operation", "type", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ledger_check_problems = Gauge(
            "ledgerql_ledger_check_problems",
            "Problems the latest ledger check found (0: balances, transfers and audit chain hold).",
            registry=self.registry,
        )
        self.ledger_checks = Counter(
            "ledgerql_ledger_checks",
            "Ledger checks run, by outcome (valid or invalid).",
            ["outcome"],
            registry=self.registry,
        )
        self.response_cache_hits = Counter(
            "ledgerql_response_cache_hits",
            "Queries answered from the response cache without executing.",
            registry=self.registry,
        )
        self.response_cache_misses = Counter(
            "ledgerql_response_cache_misses",
            "Cacheable queries that executed because no fresh answer was cached.",
            registry=self.registry,
        )
        self.response_cache_bytes = Gauge(
            "ledgerql_response_cache_bytes",
            "Bytes of answers held by the response cache (serialized JSON).",
            registry=self.registry,
        )
        self.response_cache_entries = Gauge(
            "ledgerql_response_cache_entries",
            "Answers held by the response cache.",
            registry=self.registry,
        )
        self._operation_names: set[str] = set()

    def operation_label(self, name: str | None) -> str:
        """A bounded label for a client-chosen operation name (cardinality stays capped)."""
        if not name:
            return "anonymous"
        if not _OPERATION_NAME.fullmatch(name):
            return "invalid"
        if name in self._operation_names:
            return name
        if len(self._operation_names) >= MAX_OPERATION_LABELS:
            return "other"
        self._operation_names.add(name)
        return name

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request and record its latency."""
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_latency.labels(method, route).observe(seconds)

    def observe_operation(self, name: str | None, kind: str, outcome: str, seconds: float) -> None:
        """Count one GraphQL operation and record its latency."""
        label = self.operation_label(name)
        self.operations.labels(label, kind, outcome).inc()
        self.operation_latency.labels(label, kind, outcome).observe(seconds)

    def observe_ledger_check(self, problems: int) -> None:
        """Record the outcome of one ledger check."""
        self.ledger_check_problems.set(problems)
        self.ledger_checks.labels("valid" if problems == 0 else "invalid").inc()

    def observe_response_cache(self, *, hit: bool, size_bytes: int, entries: int) -> None:
        """Count one cacheable query (a hit or a miss) and record what the cache holds."""
        (self.response_cache_hits if hit else self.response_cache_misses).inc()
        self.response_cache_bytes.set(size_bytes)
        self.response_cache_entries.set(entries)

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)
