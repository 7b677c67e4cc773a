"""Rounds that alternate servers: LedgerQL against PostGraphile and the SQL floor, and A/B pairs.

Each contender gets a 2-second warm-up, then `runs` rounds take turns (LedgerQL, PostGraphile,
floor, LedgerQL, ...), so a slow patch of the shared machine hits every contender alike; each
figure is the median of its rounds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.common import DemoUser, autocannon, graphql_request
from bench.peer import NO_AUTH_NOTE, PEER_W2, PEER_W3, uuid_of
from bench.workloads import W2, W3, Row, dashboard_and_transfer, failures, median_of

Load = Callable[[float], Awaitable[dict[str, Any]]]
WARMUP_SECONDS = 2.0
PLAIN = {"content-type": "application/json"}


def saturating(
    url: str, requests: list[dict[str, Any]], connections: int = 32, *, ids: bool = False
) -> Load:
    """A closed-loop autocannon load of `requests` on `url` for a given number of seconds."""

    async def load(seconds: float) -> dict[str, Any]:
        return await autocannon(
            url, requests, connections=connections, seconds=seconds, id_replacement=ids
        )

    return load


async def alternate(loads: dict[str, Load], runs: int, seconds: float) -> dict[str, list[Any]]:
    """Warm every contender up, then `runs` rounds in turn; each contender's runs."""
    for load in loads.values():
        await load(WARMUP_SECONDS)
    results: dict[str, list[Any]] = {name: [] for name in loads}
    for _ in range(runs):
        for name, load in loads.items():
            results[name].append(await load(seconds))
    return results


def rate(runs: list[dict[str, Any]]) -> float:
    """Median successful responses per second."""
    return median_of(runs, "rps")


@dataclass
class Versus:
    """LedgerQL (response cache off), PostGraphile (PostgreSQL only) and the SQL floor."""

    cold: str
    floor: str
    peer: str | None
    users: list[DemoUser]
    holders: dict[str, str]
    runs: int
    seconds: float
    rows: list[Row] = field(default_factory=list)

    def _peer_baseline(self, rps: float | None) -> str:
        return "PostGraphile: PostgreSQL only" if rps is None else f"PostGraphile {rps:.0f} req/s"

    async def _three(
        self, ours: list[dict[str, Any]], floor: list[dict[str, Any]], peer: list[dict[str, Any]]
    ) -> tuple[list[Any], list[Any], list[Any] | None]:
        loads = {"ledgerql": saturating(self.cold + "/graphql", ours)}
        if self.peer is not None:
            loads["peer"] = saturating(self.peer + "/graphql", peer)
        loads["floor"] = saturating(self.floor + "/floor", floor)
        results = await alternate(loads, self.runs, self.seconds)
        return results["ledgerql"], results["floor"], results.get("peer")

    def _rows(
        self, name: str, ours: list[Any], floor: list[Any], peer: list[Any] | None,
        floor_target: float | None,
    ) -> None:  # fmt: skip
        rps, floor_rps = rate(ours), rate(floor)
        peer_rps = rate(peer) if peer is not None else None
        figure = f"{rps:.0f} req/s; failed {failures(ours)}"
        peer_ratio = rps / peer_rps if peer_rps else None
        baseline = self._peer_baseline(peer_rps)
        if peer is not None:
            baseline += f" (failed {failures(peer)}; no auth)"
        self.rows.append(Row(f"{name} cold (RESPONSE_CACHE=off) / PostGraphile", figure, baseline,
                             peer_ratio, ">= 0.50 of PostGraphile",
                             None if peer_ratio is None else peer_ratio >= 0.5))  # fmt: skip
        floor_ratio = rps / floor_rps
        self.rows.append(Row(
            f"{name} cold / SQL floor", figure, f"SQL floor {floor_rps:.0f} req/s "
            f"(failed {failures(floor)})", floor_ratio,
            f">= {floor_target:.2f} of floor" if floor_target else "-",
            floor_ratio >= floor_target if floor_target else None,
        ))  # fmt: skip

    async def w2(self) -> None:
        """The dashboard, cold, against PostGraphile and the SQL floor."""
        ours = [graphql_request(W2, None, user.headers) for user in self.users]
        floor = [{"method": "GET", "path": f"/floor?user={u.user_uuid}"} for u in self.users]
        peer = [graphql_request(PEER_W2, {"holder": self.holders.get(u.username)}, PLAIN)
                for u in self.users]  # fmt: skip
        self._rows("W2 dashboard", *await self._three(ours, floor, peer), floor_target=0.4)

    async def w3(self) -> None:
        """One account's 100 newest transactions, cold, against PostGraphile and the floor."""
        ours = [graphql_request(W3, {"id": u.accounts[0]}, u.headers) for u in self.users]
        floor = [{"method": "GET", "path": f"/floor/transactions?account={uuid_of(u.accounts[0])}"}
                 for u in self.users]  # fmt: skip
        peer = [graphql_request(PEER_W3, {"account": uuid_of(u.accounts[0])}, PLAIN)
                for u in self.users]  # fmt: skip
        self._rows("W3 transactions(first: 100)", *await self._three(ours, floor, peer),
                   floor_target=None)  # fmt: skip

    async def w2_warm(self, warm: str) -> None:
        """W2 with the response cache on, one transfer per 10 reads, against PostGraphile's W2."""
        loads = {
            "warm": saturating(warm + "/graphql", dashboard_and_transfer(self.users), ids=True)
        }
        if self.peer is not None:
            peer = [graphql_request(PEER_W2, {"holder": self.holders.get(u.username)}, PLAIN)
                    for u in self.users]  # fmt: skip
            loads["peer"] = saturating(self.peer + "/graphql", peer)
        results = await alternate(loads, self.runs, self.seconds)
        rps = rate(results["warm"])
        peer_rps = rate(results["peer"]) if "peer" in results else None
        ratio = rps / peer_rps if peer_rps else None
        self.rows.append(Row(
            "W2 warm (cache on; 1 transfer per 10 dashboards) / PostGraphile W2",
            f"{rps:.0f} req/s; failed {failures(results['warm'])}",
            self._peer_baseline(peer_rps), ratio, ">= 1.50 of PostGraphile",
            None if ratio is None else ratio >= 1.5,
        ))  # fmt: skip

    async def w2_audit(self, audit_all: str, audit_none: str) -> None:
        """W2 (cache off) with AUDIT_READS=all against the same with AUDIT_READS=none."""
        requests = [graphql_request(W2, None, user.headers) for user in self.users]
        results = await alternate(
            {"all": saturating(audit_all + "/graphql", requests),
             "none": saturating(audit_none + "/graphql", requests)},
            self.runs, self.seconds,
        )  # fmt: skip
        rps, none_rps = rate(results["all"]), rate(results["none"])
        self.rows.append(Row(
            "W2 AUDIT_READS=all / AUDIT_READS=none (cache off)",
            f"{rps:.0f} req/s; failed {failures(results['all'])}",
            f"AUDIT_READS=none {none_rps:.0f} req/s", rps / none_rps, ">= 0.80",
            rps / none_rps >= 0.8,
        ))  # fmt: skip


def answers_row(mismatches: list[str], users: int) -> Row:
    """Whether LedgerQL and PostGraphile answered W2 and W3 alike for every demo user."""
    if mismatches:
        print("\n!!! MISMATCH between LedgerQL and PostGraphile answers:", flush=True)
        for mismatch in mismatches:
            print(f"!!!   {mismatch}", flush=True)
    figure = f"equal for {users} users" if not mismatches else f"**{len(mismatches)} MISMATCHES**"
    return Row("W2/W3 answers: LedgerQL = PostGraphile (counts and values)", figure,
               NO_AUTH_NOTE, target="equal", met=not mismatches)  # fmt: skip
