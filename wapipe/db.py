"""The one database seam of the Python side: how to connect, one call path, errors.

- `connection_kwargs` is the one connection recipe (autocommit, connect timeout,
  application name, TCP keepalives so a vanished peer is noticed within seconds, and
  session settings); `new_pool` (asyncio pools), `connect_async` (the LISTEN
  connection) and `connect` (the CLI's synchronous connection) all use it.
- `call` runs one named statement of wapipe.queries on a pooled autocommit
  connection: a connection that fails (dead after a restart, pool timeout) is
  handed to a `Retry` policy, which says whether to try again; any other database
  error leaves through `translate`, the one SQLSTATE -> exception table
  (wapipe.errors.SQLSTATES).
- `rehearse` (a pool's `configure`: the first calls' statements, rolled back) and
  `ready` (the pool's min_size connections, warmed) make a process ready before it
  says it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, LiteralString, Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from wapipe.errors import DatabaseUnavailable, refusal
from wapipe.settings import mask_url

CONNECT_TIMEOUT_SECONDS = 3
# A pooled connection may be dead after a database restart: one more try on a fresh
# one (every statement of wapipe.queries is safe to repeat: see each function).
ATTEMPTS = 3

Rows = list[tuple[Any, ...]]


def connection_kwargs(
    name: str,
    *,
    application_name: str | None = None,
    session: Mapping[str, str] | None = None,
    autocommit: bool = True,
) -> dict[str, Any]:
    """The one connection recipe (`name` becomes application_name wapipe-<name>)."""
    kwargs: dict[str, Any] = {
        "autocommit": autocommit,
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "application_name": application_name or f"wapipe-{name}",
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 2,
    }
    if session:
        kwargs["options"] = " ".join(f"-c {key}={value}" for key, value in session.items())
    return kwargs


def new_pool(
    url: str,
    name: str,
    *,
    min_size: int,
    max_size: int,
    timeout: float = 10,
    max_waiting: int = 0,
    application_name: str | None = None,
    session: Mapping[str, str] | None = None,
    configure: Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]] | None = None,
    reconnect_timeout: float = 0,
) -> AsyncConnectionPool[Any]:
    """An asyncio pool named wapipe-<name>, not opened yet (`await pool.open(...)`).

    reconnect_timeout 0: the pool keeps trying while the database is away."""
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max(min_size, max_size),
        max_waiting=max_waiting,
        timeout=timeout,
        name=f"wapipe-{name}",
        open=False,
        configure=configure,
        reconnect_timeout=reconnect_timeout,
        kwargs=connection_kwargs(name, application_name=application_name, session=session),
    )


async def connect_async(url: str, name: str) -> psycopg.AsyncConnection[Any]:
    """A dedicated autocommit connection (LISTEN); DatabaseUnavailable when unreachable."""
    try:
        return await psycopg.AsyncConnection.connect(url, **connection_kwargs(name))
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(first_line(str(exc))) from exc


async def connect_once(url: str, timeout: float) -> None:
    """One direct connection, closed at once; raises if the database cannot be reached."""
    async with asyncio.timeout(timeout):
        conn = await psycopg.AsyncConnection.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        await conn.close()


def connect(url: str, *, autocommit: bool = True, **kwargs: Any) -> psycopg.Connection[Any]:
    """A synchronous connection; DatabaseUnavailable names the (masked) URL on failure."""
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
    try:
        return psycopg.connect(url, autocommit=autocommit, **kwargs)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot connect to {mask_url(url)}: {first_line(str(exc))}"
        ) from exc
    except psycopg.ProgrammingError as exc:  # malformed URL / conninfo
        raise DatabaseUnavailable(
            f"invalid database url {mask_url(url)}: {first_line(str(exc))}"
        ) from exc


async def ready(pool: AsyncConnectionPool[Any], timeout: float) -> None:
    """Wait until `pool` (opened) has its min_size connections ready: each connected and
    through the pool's `configure` (a warm-up), by holding that many at once.
    DatabaseUnavailable when they are not there within `timeout`; the pool stays open
    and keeps trying (pool.wait() would close it)."""
    deadline = time.monotonic() + timeout
    try:
        async with contextlib.AsyncExitStack() as held:
            for _ in range(pool.min_size):
                await held.enter_async_context(
                    pool.connection(timeout=max(0.0, deadline - time.monotonic()))
                )
    except PoolTimeout as exc:
        raise DatabaseUnavailable(f"database unreachable: {reason(exc)}") from exc


async def rehearse(
    conn: psycopg.AsyncConnection[Any],
    statements: Sequence[tuple[LiteralString, Mapping[str, Any]]],
) -> str | None:
    """Run `statements` on a new connection in one transaction, rolled back: a warm-up.

    A fresh backend compiles each PL/pgSQL function and plans its statements on their
    first call; doing it here (a pool's `configure`), before the connection is handed
    out, keeps that cost off the first real calls. Nothing is kept (sequence numbers
    aside). A refusal (a schema not migrated yet...) only skips the rest: its reason is
    returned (None when all ran); a broken connection raises, and the pool makes a new one.
    """
    try:
        async with conn.transaction(force_rollback=True):
            for sql, params in statements:
                await conn.execute(sql, params)
    except psycopg.OperationalError:
        raise
    except psycopg.Error as exc:
        return reason(exc)
    return None


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


def reason(exc: BaseException) -> str:
    """The database's primary message (psycopg's own errors: their first line)."""
    diag = getattr(exc, "diag", None)
    primary = diag.message_primary if diag is not None else None
    return first_line(primary or str(exc))


def translate(exc: psycopg.Error) -> Exception:
    """The domain error of a database error (wapipe.errors.SQLSTATES), else `exc` itself."""
    found = refusal(exc.sqlstate, reason(exc))
    if found is None and isinstance(exc, psycopg.DataError):  # psycopg's own (a NUL byte)
        found = refusal("22000", reason(exc))
    return found or exc


class ConnectionSource(Protocol):
    """An AsyncConnectionPool, or anything lending its connections (the ingress's Database)."""

    def connection(
        self, timeout: float | None = None
    ) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]: ...


class Retry(Protocol):
    """Whether a call whose connection failed tries again (it may raise its own
    DatabaseUnavailable instead); `attempt` counts from 0."""

    async def __call__(self, exc: Exception, attempt: int) -> bool: ...


class Backoff:
    """Try again up to `attempts` times in all, 0.2 s, 0.4 s ... apart."""

    def __init__(self, attempts: int = ATTEMPTS) -> None:
        self.attempts = attempts

    async def __call__(self, exc: Exception, attempt: int) -> bool:
        if attempt + 1 >= self.attempts:
            return False
        await asyncio.sleep(0.2 * (attempt + 1))
        return True


BACKOFF = Backoff()
ONCE = Backoff(1)


async def call(
    source: ConnectionSource,
    sql: LiteralString,
    params: Mapping[str, Any] | None = None,
    *,
    retry: Retry = BACKOFF,
    deadline: float | None = None,
) -> Rows:
    """The rows of one autocommit statement (committed when they arrive).

    A failed connection goes to `retry`; when it gives up: DatabaseUnavailable. A
    database refusal: its wapipe.errors domain error. `deadline` (monotonic) bounds
    each wait for a connection."""
    attempt = 0
    while True:
        timeout = None
        if deadline is not None:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                raise DatabaseUnavailable("database unreachable: no time left to try again")
        try:
            async with source.connection(timeout=timeout) as conn:
                cur = await conn.execute(sql, params)
                # rows when the result has columns (`cur.description` would build a Column
                # object per column for the same answer: ~25 us for a claim's 29)
                result = cur.pgresult
                return await cur.fetchall() if result is not None and result.nfields else []
        except (psycopg.OperationalError, PoolTimeout, PoolClosed) as exc:
            if not await retry(exc, attempt):
                raise DatabaseUnavailable(f"database unreachable: {reason(exc)}") from exc
            attempt += 1
        except psycopg.Error as exc:
            raise translate(exc) from exc
