"""A throwaway PostgreSQL cluster built from the installed server binaries.

Used when TEST_POSTGRES_URL is not set. As root, the cluster runs as the `postgres` user
(PostgreSQL refuses to run as root). The data directory and the socket live in a temp dir
that is removed when the cluster stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL could be started or reached."""


def _find_bindir() -> Path:
    configured = os.environ.get("PG_BINDIR")
    candidates = [configured] if configured else []
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True
    )
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    msg = "no PostgreSQL server binaries (initdb) found; set PG_BINDIR or TEST_POSTGRES_URL"
    raise PostgresUnavailable(msg)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayPostgres:
    """Start and stop a private PostgreSQL cluster on a free loopback port."""

    def __init__(self) -> None:
        self.bindir = _find_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="ledgerql-pg-"))
        self.datadir = self.root / "data"
        self.port = _free_port()
        self._run_as: list[str] = []
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError as error:
                msg = "running as root but there is no `postgres` user to run the server"
                raise PostgresUnavailable(msg) from error
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._run_as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        command = [*self._run_as, *args]
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            msg = f"{' '.join(args[:2])} failed: {result.stderr.strip() or result.stdout.strip()}"
            raise PostgresUnavailable(msg)

    def start(self) -> str:
        """Initialise and start the cluster; returns an admin URL for SQLAlchemy/asyncpg."""
        self._run(
            str(self.bindir / "initdb"),
            "-D", str(self.datadir),
            "-U", "postgres",
            "-A", "trust",
            "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip
        self.resume()
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def resume(self) -> None:
        """Start the server on the cluster's data directory (again, after `pause`)."""
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=300",
            ]
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "start", "-w", "-t", "60",
            "-D", str(self.datadir),
            "-l", str(self.root / "server.log"),
            "-o", options,
        )  # fmt: skip

    def pause(self) -> None:
        """Stop the server (ending every connection) but keep its files, for `resume`."""
        self._run(str(self.bindir / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.datadir))

    def freeze(self) -> None:
        """Stop every server process with SIGSTOP: connections stay open and nothing answers."""
        for pid in self._processes():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """Let the processes `freeze` stopped run again."""
        for pid in self._processes():
            os.kill(pid, signal.SIGCONT)

    def _processes(self) -> list[int]:
        postmaster = int((self.datadir / "postmaster.pid").read_text().split()[0])
        children = [
            int(stat.parent.name)
            for stat in Path("/proc").glob("[0-9]*/stat")
            if _parent_of(stat) == postmaster
        ]
        return [postmaster, *children]

    def stop(self) -> None:
        """Stop the cluster and delete its files."""
        with contextlib.suppress(PostgresUnavailable):
            self._run(
                str(self.bindir / "pg_ctl"), "stop", "-m", "immediate", "-D", str(self.datadir)
            )
        shutil.rmtree(self.root, ignore_errors=True)


def _parent_of(stat: Path) -> int | None:
    """The parent pid in a /proc/<pid>/stat file (None when the process is gone)."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1])


class TestDatabases:
    """Fresh databases copied from a migrated template, each made while the previous test runs.

    One admin connection on a private thread (with its own event loop) creates and drops them:
    the copy for the next test is made in the background, and a used database is dropped
    without the test waiting for it.
    """

    __test__ = False  # not a test class, despite the name

    def __init__(self, admin_url: str, template: str) -> None:
        self.admin_url = admin_url
        self.template = template
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-databases")
        self._loop = asyncio.new_event_loop()
        self._connection: asyncpg.Connection | None = None
        self._next: Future[str] | None = None
        self._drops: list[Future[None]] = []

    def _run(self, statement: str) -> Future[None]:
        """Run `statement` on the admin connection, after everything submitted before it."""

        async def execute() -> None:
            if self._connection is None:
                self._connection = await asyncpg.connect(asyncpg_dsn(self.admin_url))
            await self._connection.execute(statement)

        return self._worker.submit(self._loop.run_until_complete, execute())

    def _create(self) -> Future[str]:
        name = f"test_{uuid.uuid4().hex[:12]}"
        created = self._run(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        named: Future[str] = Future()
        created.add_done_callback(
            lambda done: (
                named.set_exception(error)
                if (error := done.exception()) is not None
                else named.set_result(name)
            )
        )
        return named

    def take(self) -> str:
        """The name of a fresh database (and start copying the one after it)."""
        pending, self._next = self._next or self._create(), None
        name = pending.result(timeout=120)  # a failed copy fails this test, not every later one
        self._next = self._create()
        return name

    def drop(self, name: str) -> None:
        """Drop a used database in the background, closing any connection still open to it."""
        self._drops.append(self._run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        """Drop the database made ahead, wait for pending work and close the connection."""
        if self._next is not None:
            with contextlib.suppress(Exception):
                self.drop(self._next.result(timeout=120))

        async def disconnect() -> None:
            if self._connection is not None:
                await self._connection.close()

        try:
            for dropped in self._drops:
                dropped.result(timeout=120)  # a failed drop fails the session's teardown
        finally:
            self._worker.submit(self._loop.run_until_complete, disconnect()).result(timeout=120)
            self._worker.shutdown()
            self._loop.close()


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as a plain DSN for asyncpg."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
