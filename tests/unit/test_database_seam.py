"""Unit (no database): one database seam in Python (issue 13, point 2).

- Only wapipe/db.py builds pools and connections (one recipe: wapipe.db.connection_kwargs).
- Only wapipe/queries.py holds SQL, and each statement is named after the wapipe
  function (or view, or table) it reads: NAME or NAME__USE.
- Statements run through wapipe.db.call (DIRECT_EXECUTES names the few exceptions).
- wapipe.errors.SQLSTATES is the one SQLSTATE -> exception table, applied by
  wapipe.db.call, whose retry policy alone decides about failed connections.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import PoolTimeout

from tests.unit.test_layering import ROOT, _sources
from wapipe import db, queries
from wapipe.errors import ClaimLost, DatabaseUnavailable, Refused, WorkflowConflict

SEAM = "wapipe/db.py"
QUERIES = "wapipe/queries.py"
# Outside the seam on purpose, each for its reason:
NOT_THE_SEAM = {
    # creates the cluster's databases as the superuser, before any wapipe schema exists
    "wapipe/cluster.py",
    # applies the schema itself (DDL, yoyo's bookkeeping): not calls of wapipe functions
    "wapipe/migrate.py",
}
POOL_CLASSES = {
    "AsyncConnectionPool",
    "ConnectionPool",
    "AsyncNullConnectionPool",
    "NullConnectionPool",
}
CONNECTION_OWNERS = {"psycopg", "AsyncConnection", "Connection"}
SQL = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH|LISTEN|NOTIFY|SET|SHOW|CALL)\s")


def _scanned() -> dict[str, str]:
    """path -> source of every module of the three packages but test support."""
    return {
        path.relative_to(ROOT).as_posix(): path.read_text()
        for module, path in _sources().items()
        if not module.startswith("wapipe.testing")
    }


def pool_or_connection_builds(source: str) -> list[int]:
    """Lines that build a pool or open a connection with psycopg directly."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name in POOL_CLASSES:
            lines.append(node.lineno)
        elif isinstance(func, ast.Attribute) and func.attr == "connect":
            owner = func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
            if owner_name in CONNECTION_OWNERS:
                lines.append(node.lineno)
    return sorted(lines)


def sql_texts(source: str) -> list[int]:
    """Lines of string literals that are SQL statements."""
    return sorted(
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value)
    )


def statements() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(queries).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
    }


def test_only_the_seam_builds_pools_and_connections() -> None:
    builders = {
        f"{path}:{line}"
        for path, source in _scanned().items()
        if path != SEAM and path not in NOT_THE_SEAM
        for line in pool_or_connection_builds(source)
    }
    assert builders == set(), "use wapipe.db.new_pool / connect_async / connect (one recipe)"


def test_only_the_query_module_holds_sql() -> None:
    holders = {
        f"{path}:{line}"
        for path, source in _scanned().items()
        if path != QUERIES and path not in NOT_THE_SEAM
        for line in sql_texts(source)
    }
    assert holders == set(), "put the statement in wapipe/queries.py, named after its function"


def test_each_statement_is_named_after_what_it_calls() -> None:
    found = statements()
    assert len(found) > 60
    for name, sql in found.items():
        called = set(re.findall(r"\bwapipe\.(\w+)", sql))
        if name in queries.NOT_FUNCTIONS:
            assert called == set(), f"{name} calls {called}: name it after the function"
        else:
            assert name.split("__")[0].lower() in called, f"{name} does not call it: {called}"
    assert len(set(found.values())) == len(found), "one name per statement"
    assert set(found) >= queries.NOT_FUNCTIONS


# Statements run on a connection directly rather than through wapipe.db.call, each for
# its reason; any other module runs its statements through the seam.
DIRECT_EXECUTES = {
    "worker/store.py",  # LISTEN on its dedicated connection
    "ingress/store.py",  # the pool's warm-up (rolled back) and the status page's snapshot
    # the synchronous CLI: dict rows, a transaction per replay chunk
    "wapipe/cli.py",
    "wapipe/ops.py",
    "wapipe/handoff.py",
    "wapipe/quarantine.py",
}


def direct_executes(source: str) -> list[int]:
    """Lines that call .execute(...) on a connection or cursor."""
    return sorted(
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"execute", "executemany"}
    )


def test_statements_go_through_the_one_call_path() -> None:
    direct = {
        f"{path}:{line}"
        for path, source in _scanned().items()
        if path != SEAM and path not in NOT_THE_SEAM | DIRECT_EXECUTES
        for line in direct_executes(source)
    }
    assert direct == set(), "run it with wapipe.db.call (retry, the SQLSTATE table)"
    for path in DIRECT_EXECUTES:
        assert direct_executes((ROOT / path).read_text()), f"{path} no longer needs its exception"


def test_the_checks_catch_what_they_are_for() -> None:
    source = (
        "from psycopg_pool import AsyncConnectionPool\n"
        "import psycopg_pool as pp\n"
        "p = AsyncConnectionPool('x')\n"
        "q = pp.ConnectionPool('x')\n"
        "c = psycopg.AsyncConnection.connect('x')\n"
        "d = psycopg.connect('x')\n"
        "e = db.connect('x')\n"
        "f = db.new_pool('x', 'y', min_size=1, max_size=1)\n"
    )
    assert pool_or_connection_builds(source) == [3, 4, 5, 6]
    texts = "A = 'SELECT wapipe.f()'\nB = \"LISTEN x\"\nC = 'Selected'\nD = ' FROM t'\n"
    assert sql_texts(texts) == [1, 2]
    calls = "await conn.execute(q.X)\ncur.executemany(q.Y, [])\nawait db.call(pool, q.X)\n"
    assert direct_executes(calls) == [1, 2]


# -- the SQLSTATE table and the call path --------------------------------------------


def _error(sqlstate: str, message: str = "refused") -> psycopg.Error:
    cls: type[psycopg.Error]
    try:
        cls = psycopg.errors.lookup(sqlstate)
    except KeyError:  # wapipe's own class: psycopg raises a plain DatabaseError with it
        cls = type("Own", (psycopg.DatabaseError,), {"sqlstate": sqlstate})
    return cls(message)


@pytest.mark.parametrize(
    ("sqlstate", "expected", "code", "retryable"),
    [
        ("WA001", ClaimLost, "claim_lost", False),
        ("22023", Refused, "rejected_by_db", False),
        ("22P02", Refused, "rejected_by_db", False),
        ("54000", Refused, "rejected_by_db", False),
        ("55000", WorkflowConflict, "workflow_state", True),
        ("40001", WorkflowConflict, "workflow_moved", True),
        ("23505", WorkflowConflict, "workflow_active", True),
    ],
)
def test_each_sqlstate_has_one_domain_error(
    sqlstate: str, expected: type[Exception], code: str, retryable: bool
) -> None:
    found = db.translate(_error(sqlstate, "the database's reason"))
    assert type(found) is expected
    assert str(found) == "the database's reason"
    assert getattr(found, "code", None) == code and getattr(found, "retryable", None) is retryable


def test_other_errors_leave_as_they_are() -> None:
    denied = _error("42501")
    assert db.translate(denied) is denied
    assert isinstance(db.translate(psycopg.DataError("NUL byte")), Refused)


class _PgResult:
    nfields = 1


class _Cursor:
    description = (("x",),)
    pgresult = _PgResult()

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    async def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows


class _Source:
    """Connections whose execute fails with the queued errors, then answers."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.taken = 0

    async def execute(self, sql: str, params: Any) -> _Cursor:
        if self.failures:
            raise self.failures.pop(0)
        return _Cursor([(1,)])

    @contextlib.asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[Any]:
        self.taken += 1
        yield self


def test_a_failed_connection_is_tried_again_as_the_policy_says() -> None:
    asked: list[int] = []

    async def once_more(exc: Exception, attempt: int) -> bool:
        asked.append(attempt)
        return attempt == 0

    source = _Source(psycopg.OperationalError("server closed the connection"))
    assert asyncio.run(db.call(source, "SELECT 1", retry=once_more)) == [(1,)]
    assert asked == [0] and source.taken == 2

    source = _Source(PoolTimeout("no connection"), psycopg.OperationalError("down"))
    with pytest.raises(DatabaseUnavailable, match="database unreachable: down"):
        asyncio.run(db.call(source, "SELECT 1", retry=once_more))


def test_a_refusal_is_not_tried_again() -> None:
    source = _Source(_error("WA001", "not held"))
    with pytest.raises(ClaimLost, match="not held"):
        asyncio.run(db.call(source, "SELECT 1"))
    assert source.taken == 1


def test_the_connection_recipe() -> None:
    kwargs = db.connection_kwargs("typing", session={"synchronous_commit": "off"})
    assert kwargs["application_name"] == "wapipe-typing"
    assert kwargs["autocommit"] is True and kwargs["keepalives"] == 1
    assert kwargs["options"] == "-c synchronous_commit=off"
    pool = db.new_pool("postgresql://u@h/d", "worker", min_size=2, max_size=1)
    assert pool.name == "wapipe-worker" and pool.max_size == 2
