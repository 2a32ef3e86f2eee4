"""The one seam between the ingress and PostgreSQL: pool, ingest call, readiness.

Database errors become domain errors here: PayloadRejected (the database says
the payload is not acceptable: a 4xx) and DatabaseUnavailable (unreachable,
too slow, or failing for reasons the sender cannot fix: 503, Meta retries).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ingress import queries
from wapipe.db import CONNECT_TIMEOUT_SECONDS, first_line
from wapipe.errors import DatabaseUnavailable
from wapipe.settings import DB_DIR, Settings, mask_url

# A pooled connection can be dead after a database restart: try another one
# (ingest_webhook is idempotent on wamid, so even a commit whose answer was lost
# cannot queue a message twice).
_ATTEMPTS = 3


class PayloadRejected(Exception):
    """The database refused the payload (not a webhook, malformed, unrepresentable)."""


@dataclass(frozen=True)
class IngestResult:
    event_id: int
    new_messages: int
    duplicates: int
    statuses: int
    errors: int


def expected_migrations() -> frozenset[str]:
    """Ids of the yoyo migrations in db/schema/ (the file names without extension)."""
    schema = DB_DIR / "schema"
    return frozenset(
        p.stem
        for p in [*schema.glob("*.sql"), *schema.glob("*.py")]
        if not p.stem.endswith(".rollback") and not p.stem.startswith("__")
    )


def new_pool(settings: Settings) -> AsyncConnectionPool[Any]:
    timeout_ms = int(settings.db_timeout_seconds * 1000)
    return AsyncConnectionPool(
        settings.database_url,
        min_size=settings.pool_min_size,
        max_size=max(settings.pool_max_size, settings.pool_min_size),
        max_waiting=2000,
        timeout=settings.db_timeout_seconds,
        name="wapipe-ingress",
        open=False,
        kwargs={
            "autocommit": True,
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "application_name": "wapipe-ingress",
            "options": f"-c statement_timeout={timeout_ms}",
            # A peer that vanished without a FIN is noticed within seconds.
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 2,
        },
    )


async def open_pool(settings: Settings) -> AsyncConnectionPool[Any]:
    """A pool with min_size connections, or DatabaseUnavailable with the reason in one line."""
    url = settings.database_url
    try:  # one direct connection first: the pool's own error only says "timeout"
        probe = await psycopg.AsyncConnection.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        await probe.close()
    except psycopg.Error as exc:
        raise DatabaseUnavailable(
            f"cannot connect to {mask_url(url)}: {first_line(str(exc))}"
        ) from exc
    pool = new_pool(settings)
    try:
        await pool.open(wait=True, timeout=settings.db_timeout_seconds + CONNECT_TIMEOUT_SECONDS)
    except PoolTimeout as exc:
        await pool.close()
        raise DatabaseUnavailable(
            f"cannot open {settings.pool_min_size} connections to {mask_url(url)}: "
            f"{first_line(str(exc))}"
        ) from exc
    return pool


async def ingest(
    pool: AsyncConnectionPool[Any], payload_json: str, correlation_id: str, timeout: float
) -> IngestResult:
    """Store one webhook in ONE round trip; returns once the transaction committed."""
    deadline = time.monotonic() + timeout
    params = {"payload": payload_json, "correlation_id": correlation_id}
    last_error = "no attempt"
    try:
        async with asyncio.timeout(timeout):
            for attempt in range(_ATTEMPTS):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    # autocommit: the statement's own transaction has committed
                    # when the result arrives.
                    async with pool.connection(timeout=remaining) as conn:
                        cur = await conn.execute(queries.INGEST_WEBHOOK, params)
                        row = await cur.fetchone()
                except (pg_errors.DataException, pg_errors.ProgramLimitExceeded) as exc:
                    raise PayloadRejected(_reason(exc)) from exc
                except psycopg.DataError as exc:  # raised by psycopg itself (e.g. NUL)
                    raise PayloadRejected(first_line(str(exc))) from exc
                except (PoolTimeout, pg_errors.QueryCanceled) as exc:
                    raise DatabaseUnavailable(f"database too slow: {first_line(str(exc))}") from exc
                except psycopg.OperationalError as exc:
                    last_error = first_line(str(exc))
                    if attempt + 1 < _ATTEMPTS:
                        await asyncio.sleep(0.05 * (attempt + 1))
                    continue
                except psycopg.Error as exc:
                    raise DatabaseUnavailable(f"database error: {_reason(exc)}") from exc
                if row is None:
                    raise DatabaseUnavailable("ingest_webhook returned no row")
                return IngestResult(*(int(v) for v in row))
    except TimeoutError as exc:
        raise DatabaseUnavailable(f"database did not answer within {timeout:g} s") from exc
    raise DatabaseUnavailable(f"database unreachable: {last_error}")


async def pending_migrations(
    pool: AsyncConnectionPool[Any], expected: frozenset[str], timeout: float
) -> list[str]:
    """Migrations on disk the database has not applied; DatabaseUnavailable if unreachable."""
    try:
        async with asyncio.timeout(timeout), pool.connection(timeout=timeout) as conn:
            cur = await conn.execute(queries.APPLIED_MIGRATIONS)
            applied = {str(r[0]) for r in await cur.fetchall()}
    except pg_errors.UndefinedTable:
        return sorted(expected)
    except (psycopg.Error, TimeoutError) as exc:
        raise DatabaseUnavailable(first_line(str(exc)) or "timeout") from exc
    return sorted(expected - applied)


@dataclass(frozen=True)
class StatusSnapshot:
    """What GET /status shows: system_health(), status_page_series(), the breaker board."""

    health: tuple[Any, ...]
    series: list[tuple[Any, ...]]
    breakers: list[tuple[Any, ...]]


class StatusForbidden(DatabaseUnavailable):
    """The ingress's database user may not read the monitoring functions and views."""


async def status_snapshot(
    pool: AsyncConnectionPool[Any], minutes: int, timeout: float
) -> StatusSnapshot:
    """The three status reads in one read-only snapshot (one connection, one transaction)."""
    try:
        async with (
            asyncio.timeout(timeout),
            pool.connection(timeout=timeout) as conn,
            conn.transaction(),
        ):
            await conn.execute(queries.READ_ONLY_SNAPSHOT)
            health = await (await conn.execute(queries.STATUS_HEALTH)).fetchone()
            series = await (
                await conn.execute(queries.STATUS_SERIES, {"minutes": minutes})
            ).fetchall()
            breakers = await (await conn.execute(queries.STATUS_BREAKERS)).fetchall()
    except pg_errors.InsufficientPrivilege as exc:
        raise StatusForbidden(
            f"{_reason(exc)} (grant the wapipe_monitor role to the ingress database user)"
        ) from exc
    except (psycopg.Error, PoolTimeout, TimeoutError) as exc:
        reason = _reason(exc) if isinstance(exc, psycopg.Error) else "timeout"
        raise DatabaseUnavailable(reason) from exc
    if health is None:
        raise DatabaseUnavailable("system_health returned no row")
    return StatusSnapshot(health=tuple(health), series=list(series), breakers=list(breakers))


def _reason(exc: psycopg.Error) -> str:
    diag = exc.diag.message_primary if exc.diag else None
    return first_line(diag or str(exc))
