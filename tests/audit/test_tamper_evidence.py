"""Tamper evidence against an insider: keyed hashes, key rotation, checkpoints, SQLite REPLACE.

The insider uses the application's own database role and raw SQL: disables (PostgreSQL) or
drops (SQLite) the immutability triggers, rewrites a row and recomputes every later hash.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from db.audit import checkpoints
from db.audit.chain import chain_hash
from db.audit.keys import AuditKeys, key_id
from db.base import utcnow
from db.models import AuditLog
from db.session import Database
from graph.cli import build_parser
from tests.conftest import make_settings
from tests.support.apps import app_with
from tests.support.audit import audit_rows, execute_raw
from tests.support.identity import signed_in, signed_in_with_role
from tests.support.logs import capture_logs
from tests.support.money import create_holder, move, open_account
from tests.support.tamper import (
    audit_chain,
    ledger_check,
    plain_sha256,
    rewrite_and_rehash,
    run_command,
    scalar,
    verify_json,
    with_key,
)

KEY_A = "a" * 40
KEY_B = "b" * 40


async def trail(client: httpx.AsyncClient, database: Database) -> str:
    """An auditor and one more user: seven audit rows. The auditor's access token."""
    auditor = await signed_in_with_role(client, database, "inspector", "auditor")
    await signed_in(client, "alice")
    assert len(await audit_rows(database)) == 7
    return auditor.access_token


# --- keyed hashes ------------------------------------------------------------------------------


@pytest.mark.parametrize("keep_key_id", [True, False], ids=["same-key-id", "downgraded"])
async def test_a_rewrite_rehashed_with_plain_sha256_breaks_the_chain_at_the_rewritten_row(
    client: httpx.AsyncClient, database: Database, keep_key_id: bool
) -> None:
    token = await trail(client, database)
    kid = database.audit_keys.current_id if keep_key_id else None
    await rewrite_and_rehash(database, 4, "nothing happened", plain_sha256(kid))
    status = await audit_chain(client, token)
    assert (status["valid"], status["firstBrokenSequence"], status["checkedEntries"]) == (
        False, 4, 3
    )  # fmt: skip
    verdict = await ledger_check(client, token)
    assert verdict["valid"] is False
    assert verdict["problems"] == [
        {"kind": "AUDIT_CHAIN_BROKEN", "accountId": None, "transferId": None,
         "expected": "an intact chain", "found": "broken at sequence 4"},
    ]  # fmt: skip


async def test_a_row_with_an_unknown_key_id_breaks_the_chain(
    client: httpx.AsyncClient, database: Database, database_url: str, tmp_path: Path
) -> None:
    token = await trail(client, database)
    other = AuditKeys.of(KEY_B.encode())
    await rewrite_and_rehash(database, 6, "someone else", with_key(other))
    status = await audit_chain(client, token)
    assert (status["valid"], status["firstBrokenSequence"]) == (False, 6)
    # whoever knows that key (configured as a retired key) sees a valid chain again
    async with app_with(
        database_url, tmp_path, audit_hmac_key=KEY_A, audit_hmac_previous_keys=[KEY_B]
    ) as (rotated, _):
        again = await audit_chain(rotated, token)
    assert (again["valid"], again["firstBrokenSequence"]) == (False, 1)  # rows 1-5: derived key


async def test_rotating_the_key_keeps_old_rows_verifiable_by_their_key_id(
    database_url: str, tmp_path: Path
) -> None:
    async with app_with(database_url, tmp_path, audit_hmac_key=KEY_A) as (client, app):
        token = await trail(client, app.state.database)
    async with app_with(
        database_url, tmp_path, audit_hmac_key=KEY_B, audit_hmac_previous_keys=[KEY_A]
    ) as (client, app):
        status = await audit_chain(client, token)
        assert (status["valid"], status["checkedEntries"], status["legacyEntries"]) == (
            True, 7, 0
        )  # fmt: skip
        rows = await audit_rows(app.state.database)
    kids = [row["key_id"] for row in rows]
    assert kids == [key_id(KEY_A.encode())] * 7 + [key_id(KEY_B.encode())]  # + the READ row
    # Dropping the retired key too early: the first row it signed no longer verifies.
    async with app_with(database_url, tmp_path, audit_hmac_key=KEY_B) as (client, _):
        status = await audit_chain(client, token)
    assert (status["valid"], status["firstBrokenSequence"], status["checkedEntries"]) == (
        False, 1, 0
    )  # fmt: skip


async def test_unkeyed_rows_from_before_the_migration_verify_only_up_to_the_configured_sequence(
    client: httpx.AsyncClient, database: Database, database_url: str, tmp_path: Path
) -> None:
    previous = "0" * 64
    for sequence in (1, 2):  # what the application wrote before keyed hashing
        row = legacy_row(sequence, previous)
        async with database.write_session() as session, session.begin():
            await session.execute(insert(AuditLog), [row])
        previous = str(row["hash"])
    await execute_raw(database, "UPDATE audit_chain_head SET sequence = 2, hash = :h", h=previous)
    async with app_with(database_url, tmp_path, audit_legacy_until_sequence=2) as (upgraded, app):
        token = await trail_after(upgraded, app.state.database, first=3)
        status = await audit_chain(upgraded, token)
        assert (status["valid"], status["checkedEntries"], status["legacyEntries"]) == (True, 9, 2)
        # an unkeyed row after a keyed one is a downgrade, never written by the application
        await rewrite_and_rehash(database, 8, "quiet", plain_sha256(None))
        status = await audit_chain(upgraded, token)
        assert (status["valid"], status["firstBrokenSequence"], status["legacyEntries"]) == (
            False, 8, 2
        )  # fmt: skip
    # Without the setting (the default 0) no unkeyed row is accepted at all.
    status = await audit_chain(client, token)
    assert (status["valid"], status["firstBrokenSequence"], status["checkedEntries"]) == (
        False, 1, 0
    )  # fmt: skip


async def test_the_whole_trail_rehashed_without_a_key_is_broken_at_its_first_row(
    client: httpx.AsyncClient, database: Database
) -> None:
    token = await trail(client, database)
    await rewrite_and_rehash(database, 1, "nothing happened", plain_sha256(None))
    status = await audit_chain(client, token)
    assert (status["valid"], status["firstBrokenSequence"], status["checkedEntries"]) == (
        False, 1, 0
    )  # fmt: skip
    verdict = await ledger_check(client, token)
    assert [problem["kind"] for problem in verdict["problems"]] == ["AUDIT_CHAIN_BROKEN"]


def legacy_row(sequence: int, previous: str) -> dict[str, object]:
    """A row as written before keyed hashing: no key id, plain SHA-256."""
    row: dict[str, object] = {
        "sequence": sequence, "id": uuid.uuid4(), "user_id": None, "action": "LOGIN",
        "entity_type": "User", "entity_id": None, "old_values": None, "new_values": None,
        "description": "before keys", "ip_address": None, "user_agent": None,
        "status": "SUCCESS", "error_message": None, "request_id": None,
        "created_at": utcnow().replace(microsecond=0), "extra": None, "key_id": None,
        "previous_hash": previous,
    }  # fmt: skip
    row["hash"] = chain_hash(previous, row)
    return row


async def trail_after(client: httpx.AsyncClient, database: Database, *, first: int) -> str:
    auditor = await signed_in_with_role(client, database, "inspector", "auditor")
    await signed_in(client, "alice")
    rows = await audit_rows(database)
    assert [row["sequence"] for row in rows] == list(range(1, first + 7))
    assert [row["key_id"] is None for row in rows] == [True] * (first - 1) + [False] * 7
    return auditor.access_token


# --- signed checkpoints ------------------------------------------------------------------------


async def test_a_rewrite_rehashed_with_the_key_is_caught_only_against_an_older_checkpoint(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    published = tmp_path / "published" / "checkpoints.jsonl"
    settings = make_settings(database_url, tmp_path, audit_checkpoint_file=published)
    async with app_with(database_url, tmp_path, audit_checkpoint_file=published) as (client, app):
        database: Database = app.state.database
        token = await trail(client, database)
        code, out = await run_command(capsys, settings, "audit-checkpoint")
        assert code == 0
        printed = json.loads(out)
        head = await audit_rows(database)
        assert printed["sequence"] == 7
        assert printed["hash"] == head[-1]["hash"]
        assert printed["keyId"] == database.audit_keys.current_id
        assert set(printed) == {"sequence", "hash", "timestamp", "keyId", "signature"}
        assert published.read_text(encoding="utf-8") == out
        clean = await ledger_check(client, token)
        assert clean["valid"] is True
        assert clean["checkpoint"] == {
            "sequence": 7, "hash": printed["hash"], "timestamp": printed["timestamp"],
            "keyId": printed["keyId"], "matches": True, "problem": None,
        }  # fmt: skip

        await rewrite_and_rehash(database, 4, "nothing happened", with_key(database.audit_keys))

        status = await audit_chain(client, token)
        assert status["valid"] is True  # with the key, the chain alone cannot tell
        verdict = await ledger_check(client, token)
        rewritten = (await audit_rows(database, sequence=7))[0]["hash"]
        problem = f"row 7 carries {rewritten}, not {printed['hash']}"
        assert verdict["valid"] is False
        assert verdict["checkpoint"]["matches"] is False
        assert verdict["checkpoint"]["problem"] == problem
        assert verdict["problems"] == [
            {"kind": "CHECKPOINT_MISMATCH", "accountId": None, "transferId": None,
             "expected": f"row 7 carries {printed['hash']}", "found": problem},
        ]  # fmt: skip
        metrics = (await client.get("/metrics")).text
        assert "ledgerql_ledger_check_problems 1.0" in metrics
        assert 'ledgerql_ledger_checks_total{outcome="invalid"} 1.0' in metrics
        assert 'ledgerql_ledger_checks_total{outcome="valid"} 1.0' in metrics
    code, report = await verify_json(capsys, settings)
    assert code == 1
    assert [problem["kind"] for problem in report["problems"]] == ["CHECKPOINT_MISMATCH"]
    code, out = await run_command(capsys, settings, "verify")
    assert code == 1
    assert (
        f"PROBLEM CHECKPOINT_MISMATCH audit trail: expected row 7 carries {printed['hash']}" in out
    )
    assert out.rstrip().endswith("ledger INVALID: 1 problems")


async def test_checkpoints_that_cannot_be_trusted_are_reported(
    client: httpx.AsyncClient, database: Database, database_url: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    token = await trail(client, database)
    settings = make_settings(database_url, tmp_path)
    async with database.unit_of_work() as uow:
        genuine = await uow.query(checkpoints.take, database.audit_keys)
    forged = checkpoints.Checkpoint(5, genuine.hash, genuine.timestamp, genuine.key_id,
                                    genuine.signature)  # fmt: skip
    cases = {
        "forged.jsonl": forged.to_json() + "\n",
        "garbage.jsonl": genuine.to_json() + "\n{not json\n",
        "empty.jsonl": "\n",
        "truncated.jsonl": checkpoints.sign(
            database.audit_keys, 99, genuine.hash, utcnow()
        ).to_json(),
    }
    found = {}
    for name, content in cases.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
        code, report = await verify_json(capsys, settings, "--checkpoint", str(tmp_path / name))
        assert code == 1
        found[name] = report["checkpoint"]["problem"]
    code, report = await verify_json(capsys, settings, "--checkpoint", str(tmp_path / "none"))
    assert code == 1
    found["missing"] = report["checkpoint"]["problem"]
    assert found == {
        "forged.jsonl": "its signature does not verify with any configured audit key",
        "garbage.jsonl": "not a checkpoint: expected one JSON object with sequence, hash, "
        "timestamp, keyId and signature",
        "empty.jsonl": f"the checkpoint file {tmp_path / 'empty.jsonl'} holds no checkpoint",
        "truncated.jsonl": "the chain has no row 99 any more",
        "missing": f"cannot read the checkpoint file {tmp_path / 'none'}: "
        "No such file or directory",
    }
    (tmp_path / "good.jsonl").write_text(genuine.to_json() + "\n", encoding="utf-8")
    code, report = await verify_json(capsys, settings, "--checkpoint", str(tmp_path / "good.jsonl"))
    assert (code, report["valid"], report["checkpoint"]["matches"]) == (0, True, True)
    assert (await ledger_check(client, token))["checkpoint"] is None  # none configured


@pytest.mark.parametrize(
    "line",
    ['{"sequence": "7", "hash": "x", "timestamp": "t", "keyId": "k", "signature": "s"}',
     '{"sequence": 7, "hash": 1, "timestamp": "t", "keyId": "k", "signature": "s"}',
     '[1, 2]'],
)  # fmt: skip
def test_a_malformed_checkpoint_line_is_refused(line: str) -> None:
    with pytest.raises(checkpoints.CheckpointError, match="not a checkpoint"):
        checkpoints.parse(line)


# --- SQLite: REPLACE must not overwrite immutable rows -----------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("connection", ["app", "plain-sqlite3"])
@pytest.mark.parametrize("table", ["transactions", "audit_logs", "audit_chain_head"])
async def test_sqlite_refuses_insert_or_replace_of_an_existing_row(
    client: httpx.AsyncClient, database: Database, database_url: str, table: str, connection: str
) -> None:
    await trail(client, database)
    if table == "transactions":
        await seed_line(client)
    before = await dump(database, table)
    victim = await scalar(database, f"SELECT id FROM {table} LIMIT 1")  # noqa: S608
    columns = await scalar(
        database, "SELECT group_concat(name, ', ') FROM pragma_table_info(:t)", t=table
    )
    rewritten = columns.replace("description", "'rewritten'")
    replace = (
        f"INSERT OR REPLACE INTO {table} ({columns}) "  # noqa: S608 - test-owned names
        f"SELECT {rewritten} FROM {table} WHERE id = :id"
    )
    refused = f"replacing a row of {table} is not allowed"
    for statement in (replace, replace.replace("INSERT OR REPLACE", "REPLACE")):
        if connection == "app":  # recursive_triggers on
            with pytest.raises(DBAPIError, match=refused):
                await execute_raw(database, statement, id=victim)
        else:  # a shell's connection: no pragmas at all
            plain = sqlite3.connect(make_url(database_url).database or "")
            try:
                with pytest.raises(sqlite3.IntegrityError, match=refused):
                    plain.execute(statement.replace(":id", "?"), (str(victim),))
            finally:
                plain.close()
    assert await dump(database, table) == before


async def seed_line(client: httpx.AsyncClient) -> None:
    """A user with an account and one deposit line."""
    bob = await signed_in(client, "bob")
    await create_holder(client, bob)
    account = await open_account(client, bob)
    payload = await move(client, bob, "deposit", account, 500)
    assert payload["errors"] == [], payload


async def dump(database: Database, table: str) -> list[tuple[object, ...]]:
    async with database.engine.connect() as connection:
        result = await connection.exec_driver_sql(f"SELECT * FROM {table} ORDER BY id")  # noqa: S608
        return [tuple(row) for row in result.all()]


async def test_audit_checkpoint_appends_to_the_output_file_and_logs_the_checkpoint(
    client: httpx.AsyncClient, database: Database, database_url: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    await trail(client, database)
    settings = make_settings(database_url, tmp_path)
    target = tmp_path / "out" / "checkpoints.jsonl"
    args: argparse.Namespace = build_parser().parse_args(
        ["audit-checkpoint", "--output", str(target)]
    )
    capsys.readouterr()
    with capture_logs() as logs:
        assert await asyncio.to_thread(args.handler, args, settings) == 0
    first = capsys.readouterr().out
    assert await asyncio.to_thread(args.handler, args, settings) == 0
    second = capsys.readouterr().out
    assert target.read_text(encoding="utf-8") == first + second
    [logged] = logs.events("audit_checkpoint")
    printed = json.loads(first)
    assert {key: logged[key] for key in ("sequence", "taken_at", "key_id", "file")} == {
        "sequence": printed["sequence"], "taken_at": printed["timestamp"],
        "key_id": printed["keyId"], "file": str(target),
    }  # fmt: skip
    code, out = await run_command(capsys, settings, "verify", "--checkpoint", str(target))
    point = json.loads(second)
    assert code == 0
    assert f"checkpoint: sequence {point['sequence']} of {point['timestamp']} matches" in out


@pytest.mark.parametrize("command", ["verify", "audit-checkpoint"])
async def test_the_commands_refuse_a_database_that_is_not_migrated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/empty.db", tmp_path)
    args: argparse.Namespace = build_parser().parse_args([command])
    capsys.readouterr()
    assert await asyncio.to_thread(args.handler, args, settings) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "ledgerql: the database is not at the latest migration: run `ledgerql migrate` first\n"
    )


async def test_the_server_publishes_checkpoints_on_its_own_schedule(
    database_url: str, tmp_path: Path
) -> None:
    target = tmp_path / "published.jsonl"
    async with app_with(
        database_url, tmp_path,
        audit_checkpoint_interval_seconds=0.05, audit_checkpoint_file=target,
    ) as (client, app):  # fmt: skip
        with capture_logs() as logs:
            token = await trail(client, app.state.database)
            for _ in range(100):  # until a checkpoint covers the trail's seven rows
                if target.exists() and checkpoints.latest(target).sequence >= 7:
                    break
                await asyncio.sleep(0.05)
        verdict = await ledger_check(client, token)
    latest = checkpoints.latest(target)
    assert latest.sequence >= 7
    assert checkpoints.signature_valid(app.state.database.audit_keys, latest)
    assert verdict["valid"] is True
    assert verdict["checkpoint"]["matches"] is True
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    logged = [(event["sequence"], event["taken_at"]) for event in logs.events("audit_checkpoint")]
    assert logged
    assert set(logged) <= {(line["sequence"], line["timestamp"]) for line in lines}
