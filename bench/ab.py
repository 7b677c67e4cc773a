"""A/B of one lever in one run: two LedgerQL servers on one seeded database, rounds alternating.

By revision: `--base REV --head REV` checks both out into temporary detached worktrees, each run
by a virtualenv cached under `.bench-cache/venvs/` (one per pyproject.toml + requirements-dev.lock,
the dependencies installed with `pip install -c requirements-dev.lock -e <worktree>`); a server
runs with its worktree as working directory and PYTHONPATH, so it imports that revision's code
whichever worktree the cached venv was first installed from. By environment only (no worktree):
`--env-a KEY=VAL ... --env-b KEY=VAL ...` runs this checkout twice with different settings.
`--env KEY=VAL` applies to both sides. The database is migrated and seeded once, by the head
revision (this checkout when comparing environments).

Each workload gets a warm-up per side, then `--runs` rounds alternating A / B (closed-loop
autocannon, 32 connections, every response checked); prints A, B and B/A of the medians.

    .venv/bin/python bench/ab.py --base main --head HEAD --workload w2 w3
    .venv/bin/python bench/ab.py --env-a AUDIT_READS=none --env-b AUDIT_READS=all --workload w2
    .venv/bin/python bench/ab.py --env-a RESPONSE_CACHE=off --env-b RESPONSE_CACHE=on --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    DemoUser,
    graphql_request,
    ledgerql,
    ledgerql_serve,
    server_env,
    serving,
    sign_in_demo_users,
    throwaway_postgres,
)
from bench.versus import Load, alternate, saturating  # noqa: E402
from bench.workloads import (  # noqa: E402
    W1,
    W2,
    W3,
    dashboard_and_transfer,
    failures,
    median_of,
    transfer_requests,
)

CACHE = ROOT / ".bench-cache"
WORKLOADS: dict[str, Callable[[list[DemoUser]], tuple[list[dict[str, Any]], bool]]] = {
    "w1": lambda users: ([graphql_request(W1, None, u.headers) for u in users], False),
    "w2": lambda users: ([graphql_request(W2, None, u.headers) for u in users], False),
    "w3": lambda users: (
        [graphql_request(W3, {"id": u.accounts[0]}, u.headers) for u in users],
        False,
    ),
    "w5": lambda users: (transfer_requests(users), True),
    "w2warm": lambda users: (dashboard_and_transfer(users), True),
}


@dataclass
class Side:
    """One of the two servers: its label, interpreter, checkout and extra environment."""

    label: str
    python: str
    checkout: Path
    env: dict[str, str] = field(default_factory=dict)


def pairs(values: list[str]) -> dict[str, str]:
    """`KEY=VAL` arguments as a dict."""
    result = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise SystemExit(f"expected KEY=VAL, got {value!r}")
        result[key] = val
    return result


def git(*args: str, cwd: Path = ROOT) -> str:
    """Run git in the repository; its stdout."""
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)  # noqa: S603, S607
    return done.stdout.strip()


def venv_for(checkout: Path) -> str:
    """The cached venv's interpreter for `checkout`'s pinned dependencies (created if missing)."""
    pins = (checkout / "pyproject.toml").read_bytes() + (
        checkout / "requirements-dev.lock"
    ).read_bytes()
    venv = CACHE / "venvs" / hashlib.sha256(pins).hexdigest()[:16]
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if not stamp.exists():
        print(f"[ab] installing a venv for {checkout.name} into {venv}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
        subprocess.run(  # noqa: S603 - fixed argv: the venv's pip and the pinned lock
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "-c", str(checkout / "requirements-dev.lock"), "-e", str(checkout)],
            check=True,
        )  # fmt: skip
        stamp.touch()
    return str(python)


@contextmanager
def worktree(rev: str, parent: Path) -> Iterator[Path]:
    """A temporary detached worktree of `rev`, removed afterwards."""
    sha = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    path = parent / f"{rev.replace('/', '-')}-{sha[:10]}"
    git("worktree", "add", "--detach", str(path), sha)
    try:
        yield path
    finally:
        git("worktree", "remove", "--force", str(path))


def side_env(env: dict[str, str], side: Side) -> dict[str, str]:
    """The server environment of one side (its checkout first on the import path)."""
    return {**env, **side.env, "PYTHONPATH": str(side.checkout)}


async def compare(
    sides: tuple[Side, Side], database_url: str, workdir: Path, args: argparse.Namespace
) -> None:
    """Seed once, start both servers, run each workload's rounds alternating; print the table."""
    base_side, head_side = sides
    env = server_env(database_url, workdir, **pairs(args.env))
    seed_env = side_env(env, head_side)
    ledgerql(seed_env, "migrate", python=head_side.python, cwd=head_side.checkout)
    ledgerql(seed_env, "seed-demo", python=head_side.python, cwd=head_side.checkout)
    print(f"[ab] {args.backend} seeded by {head_side.label}", flush=True)
    lines = []
    async with (
        serving(ledgerql_serve(args.workers, base_side.python), side_env(env, base_side),
                workdir / "a.log", cwd=base_side.checkout) as a,
        serving(ledgerql_serve(args.workers, head_side.python), side_env(env, head_side),
                workdir / "b.log", cwd=head_side.checkout) as b,
    ):  # fmt: skip
        users = await sign_in_demo_users(a)
        for name in args.workload:
            requests, ids = WORKLOADS[name](users)
            loads: dict[str, Load] = {
                "a": saturating(a + "/graphql", requests, ids=ids),
                "b": saturating(b + "/graphql", requests, ids=ids),
            }
            results = await alternate(loads, args.runs, args.seconds)
            rps_a, rps_b = median_of(results["a"], "rps"), median_of(results["b"], "rps")
            lines.append(
                f"| {name} | {rps_a:.0f} req/s (failed {failures(results['a'])}) "
                f"| {rps_b:.0f} req/s (failed {failures(results['b'])}) | {ratio(rps_b, rps_a)} |"
            )
    print(f"\n## A/B on {args.backend}: A = {base_side.label}, B = {head_side.label} "
          f"({args.workers} workers each, median of {args.runs} alternating rounds of "
          f"{args.seconds:g} s)\n")  # fmt: skip
    print("| workload | A | B | B/A |")
    print("|---|---|---|---|")
    print("\n".join(lines), flush=True)


def ratio(head: float, base: float) -> str:
    """B/A with two decimals, or `-` when A answered nothing."""
    return f"{head / base:.2f}" if base else "-"


def describe(env: dict[str, str]) -> str:
    """`KEY=VAL ...`, or `defaults`."""
    return " ".join(f"{k}={v}" for k, v in env.items()) or "defaults"


def main() -> None:
    """Parse the arguments, prepare both sides and compare them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", help="revision A (with --head)")
    parser.add_argument("--head", help="revision B (with --base)")
    parser.add_argument("--env-a", nargs="+", default=[], metavar="KEY=VAL", help="A's settings")
    parser.add_argument("--env-b", nargs="+", default=[], metavar="KEY=VAL", help="B's settings")
    parser.add_argument("--env", nargs="+", default=[], metavar="KEY=VAL", help="both sides")
    parser.add_argument("--workload", nargs="+", choices=list(WORKLOADS), default=["w2"])
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--runs", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--seconds", type=float, default=8, help="length of each round")
    parser.add_argument("--workers", type=int, default=2, help="workers of each server")
    args = parser.parse_args()
    if bool(args.base) != bool(args.head):
        parser.error("--base and --head go together")
    if not args.base and not (args.env_a or args.env_b):
        parser.error("give --base REV --head REV, or --env-a/--env-b")
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        env_a, env_b = pairs(args.env_a), pairs(args.env_b)
        if args.base:
            trees = workdir / "trees"
            checkout_a = stack.enter_context(worktree(args.base, trees))
            checkout_b = stack.enter_context(worktree(args.head, trees))
            sides = (
                Side(f"{args.base} {describe(env_a)}", venv_for(checkout_a), checkout_a, env_a),
                Side(f"{args.head} {describe(env_b)}", venv_for(checkout_b), checkout_b, env_b),
            )
        else:
            sides = (
                Side(describe(env_a), sys.executable, ROOT, env_a),
                Side(describe(env_b), sys.executable, ROOT, env_b),
            )
        if args.backend == "sqlite":
            url = f"sqlite+aiosqlite:///{workdir}/ab.db"
        else:
            url = stack.enter_context(throwaway_postgres())
        asyncio.run(compare(sides, url, workdir, args))


if __name__ == "__main__":
    main()
