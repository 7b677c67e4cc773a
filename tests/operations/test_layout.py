"""SQL lives in db/repositories/: nothing else under db/ or auth/ builds or runs a statement.

Every module under db/ (except db/repositories/, db/models/ and db/migrations.py) and auth/ is
parsed; one that imports a statement builder from sqlalchemy (`select`, `insert`, `text`,
`func`, a dialect's `insert`, ...) or calls `.execute(` / `.scalar(` / `.scalars(` (or the
other ways to run a statement) breaks the rule. And nothing under graph/ imports sqlalchemy.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from core.settings import PROJECT_ROOT

SQL_HOMES = ("db/repositories/", "db/models/", "db/migrations.py")
"""Where statements may be built and run (migrations run Alembic, which runs DDL)."""

STATEMENT_BUILDERS = frozenset(
    {
        "select", "insert", "update", "delete", "text", "func", "case", "and_", "or_", "not_",
        "exists", "literal", "literal_column", "bindparam", "union", "union_all", "tuple_",
        "values", "table", "column",
    }
)  # fmt: skip
"""Names of `sqlalchemy` whose import means a statement is built here."""

STATEMENT_RUNNERS = frozenset(
    {"execute", "executemany", "exec_driver_sql", "scalar", "scalars", "stream", "stream_scalars"}
)
"""Methods whose call means a statement is run here."""


def sql_outside_repositories(source: str) -> set[str]:
    """What in a module's source builds or runs SQL: `import <name>` and `.<method>(` marks."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            from_dialect = node.module.startswith("sqlalchemy.dialects")
            if node.module == "sqlalchemy" or from_dialect:
                found |= {
                    f"import {alias.name}"
                    for alias in node.names
                    if alias.name in STATEMENT_BUILDERS or from_dialect
                }
        elif isinstance(node, ast.Import):
            found |= {
                f"import {alias.name}"
                for alias in node.names
                if alias.name.startswith("sqlalchemy.dialects")
            }
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in STATEMENT_RUNNERS
        ):
            found.add(f".{node.func.attr}(")
    return found


def imports_sqlalchemy(source: str) -> bool:
    """Whether a module imports `sqlalchemy` or any of its submodules."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(
            alias.name.split(".")[0] == "sqlalchemy" for alias in node.names
        ):
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.module is not None
            and node.module.split(".")[0] == "sqlalchemy"
        ):
            return True
    return False


def modules(*packages: str) -> Iterator[tuple[str, str]]:
    """Every module under the packages as (path relative to the project, source)."""
    for package in packages:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            yield path.relative_to(PROJECT_ROOT).as_posix(), path.read_text(encoding="utf-8")


def outside_sql_homes() -> Iterator[tuple[str, str]]:
    """The modules of db/ and auth/ that must not build or run SQL."""
    for name, source in modules("db", "auth"):
        if not name.startswith(SQL_HOMES):
            yield name, source


def test_only_repositories_build_or_run_sql() -> None:
    found = {name: sql_outside_repositories(source) for name, source in outside_sql_homes()}
    breaking = {name: sorted(marks) for name, marks in found.items() if marks}
    assert breaking == {}


def test_graph_never_imports_sqlalchemy() -> None:
    importing = [name for name, source in modules("graph") if imports_sqlalchemy(source)]
    assert importing == []


def test_the_check_sees_imports_and_statement_runs() -> None:
    source = """
from sqlalchemy import select, Uuid
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
import sqlalchemy.dialects.sqlite

async def run(session, connection, cursor, items):
    await session.execute(select(Uuid))
    await session.scalar(select(Uuid))
    items.update({})
    cursor.execute("PRAGMA foreign_keys=ON")
    connection.exec_driver_sql("BEGIN")
"""
    assert sql_outside_repositories(source) == {
        "import select",
        "import insert",
        "import sqlalchemy.dialects.sqlite",
        ".execute(",
        ".scalar(",
        ".exec_driver_sql(",
    }


def test_the_check_passes_a_module_without_sql() -> None:
    source = """
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

async def run(session: AsyncSession, repo) -> None:
    await repo.find(session)
"""
    assert sql_outside_repositories(source) == set()
    assert imports_sqlalchemy(source) is True
    assert imports_sqlalchemy("import json\nfrom core import settings\n") is False


def test_the_module_walk_covers_db_and_auth_and_skips_sql_homes() -> None:
    names = [name for name, _ in outside_sql_homes()]
    assert "db/session.py" in names
    assert "auth/service.py" in names
    assert "db/audit/chain.py" in names
    assert [name for name in names if name.startswith(SQL_HOMES)] == []
