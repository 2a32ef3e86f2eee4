"""The ingress's use of the database seam (wapipe.db): its pool, ingest call, readiness.

Calls go through wapipe.db.call, whose SQLSTATE table (wapipe.errors) gives
PayloadRejected (wapipe.errors.Refused: the payload is not acceptable, a 4xx); any
other failure is DatabaseUnavailable (unreachable, too slow, or failing for reasons
the sender cannot fix: 503, Meta retries).

Database holds the pool and knows whether the database is reachable: once a
connection fails and a fresh one cannot be made either, every call fails at
once (no POST waits out its budget while the database is down) and a probe
reconnects every few hundred milliseconds; the first connection that works
brings a fresh, warmed pool and the calls go through again.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, LiteralString

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from wapipe import db as seam
from wapipe import queries
from wapipe.db import CONNECT_TIMEOUT_SECONDS, connect_once, first_line
from wapipe.errors import DatabaseRefusal, DatabaseUnavailable, Refused
from wapipe.group_commit import GroupCommit
from wapipe.log import get_logger
from wapipe.settings import DB_DIR, Settings, mask_url

log = get_logger("wapipe.ingress")

# A pooled connection can be dead after a database restart: try another one
# (ingest_webhook is idempotent on wamid, so even a commit whose answer was lost
# cannot queue a message twice).
_ATTEMPTS = seam.ATTEMPTS

# The database refused the payload (not a webhook, malformed, unrepresentable).
PayloadRejected = Refused


@dataclass(frozen=True)
class IngestResult:
    event_id: int
    new_messages: int
    duplicates: int
    statuses: int
    errors: int
    batch_size: int = 1  # POSTs stored by the same call (group commit)


def expected_migrations() -> frozenset[str]:
    """Ids of the yoyo migrations in db/schema/ (the file names without extension)."""
    schema = DB_DIR / "schema"
    return frozenset(
        p.stem
        for p in [*schema.glob("*.sql"), *schema.glob("*.py")]
        if not p.stem.endswith(".rollback") and not p.stem.startswith("__")
    )


def pool_min_size(settings: Settings) -> int:
    """Connections opened (and warmed) at start-up: at least one per ingest call
    the batcher runs at once, so a burst never waits for the pool to grow."""
    return min(max(settings.pool_min_size, settings.ingest_calls_max), pool_max_size(settings))


def pool_max_size(settings: Settings) -> int:
    return max(settings.pool_max_size, settings.pool_min_size, 1)


def new_pool(settings: Settings) -> AsyncConnectionPool[Any]:
    return seam.new_pool(
        settings.database_url,
        "ingress",
        min_size=pool_min_size(settings),
        max_size=pool_max_size(settings),
        max_waiting=2000,
        timeout=settings.db_timeout_seconds,
        configure=warm_connection,
        session={"statement_timeout": str(int(settings.db_timeout_seconds * 1000))},
        reconnect_timeout=300,
    )


def _warm_up_payloads() -> list[str]:
    """A message and a status no one sent: what the first real POSTs carry."""
    wamid = f"wamid.wapipe-warm-up-{uuid.uuid4().hex}"
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "10000000000", "phone_number_id": "0"},
        "contacts": [{"profile": {"name": "warm-up"}, "wa_id": "10000000000"}],
        "messages": [
            {
                "from": "10000000000",
                "id": wamid,
                "timestamp": "0",
                "type": "text",
                "text": {"body": "warm-up"},
            }
        ],
        "statuses": [
            {"id": f"{wamid}-s", "status": "sent", "timestamp": "0", "recipient_id": "10000000000"}
        ],
    }
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "0", "changes": [{"field": "messages", "value": value}]}],
    }
    first = json.dumps(envelope)
    second = first.replace(wamid, f"{wamid}-2")
    return [first, second]


async def warm_connection(conn: psycopg.AsyncConnection[Any]) -> None:
    """Run both ingest calls once on a new connection, in a transaction rolled back.

    A fresh backend plans every statement of the ingest functions on its first
    call (several milliseconds); doing it here, before the pool hands the
    connection out, keeps that cost off the first POSTs. Nothing is stored (the
    transaction is rolled back; only sequence numbers are spent). A refusal (a
    schema not migrated yet…) only skips the warm-up; a broken connection
    raises, and the pool makes a new one.
    """
    payloads = _warm_up_payloads()
    try:
        async with conn.transaction(force_rollback=True):
            await conn.execute(
                queries.INGEST_WEBHOOK, {"payload": payloads[0], "correlation_id": "warm-up"}
            )
            await conn.execute(
                queries.INGEST_WEBHOOKS,
                {"payloads": "[" + ",".join(payloads) + "]", "correlation_ids": ["warm-up"] * 2},
            )
    except psycopg.OperationalError:
        raise
    except psycopg.Error as exc:
        log.info("connection not warmed up", reason=first_line(str(exc)))


async def open_pool(settings: Settings) -> AsyncConnectionPool[Any]:
    """A pool with its min size of warmed connections, or DatabaseUnavailable with the
    reason in one line."""
    url = settings.database_url
    try:  # one direct connection first: the pool's own error only says "timeout"
        await connect_once(url, settings.db_timeout_seconds + CONNECT_TIMEOUT_SECONDS)
    except (psycopg.Error, TimeoutError) as exc:
        raise DatabaseUnavailable(
            f"cannot connect to {mask_url(url)}: {first_line(str(exc)) or 'timeout'}"
        ) from exc
    pool = new_pool(settings)
    try:
        await pool.open(wait=True, timeout=settings.db_timeout_seconds + CONNECT_TIMEOUT_SECONDS)
    except PoolTimeout as exc:
        await pool.close()
        raise DatabaseUnavailable(
            f"cannot open {pool_min_size(settings)} connections to {mask_url(url)}: "
            f"{first_line(str(exc))}"
        ) from exc
    return pool


class Database:
    """The ingress's pool and whether the database is reachable.

    Up: calls take connections from the pool. A call whose connection fails
    (refused, reset, closed by a restart) asks `confirm_reachable`: one direct
    connection attempt, shared by every call that asks meanwhile. If it works,
    the database is up (a restart left dead connections behind): the pool's
    idle connections are checked and the call tries again. If it fails, the
    database is down: the pool is closed (calls waiting for a connection fail
    at once), every call fails at once with DatabaseUnavailable, and a probe
    tries a direct connection every `probe_seconds`; the first that works opens
    a fresh pool (min size, warmed) and the database is up again. The pool's
    own reconnection backs off for seconds, which is why it is replaced rather
    than left to recover. A call that times out only starts a check in the
    background (a slow database is not a down one).
    """

    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool[Any],
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.settings = settings
        self._pool: AsyncConnectionPool[Any] | None = pool
        self._on_change = on_change
        self.down_reason = ""
        self.down_since = 0.0
        self._check: asyncio.Task[bool] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False
        if on_change is not None:
            on_change(True)

    @classmethod
    async def open(
        cls, settings: Settings, on_change: Callable[[bool], None] | None = None
    ) -> Database:
        """Start-up: the database must be reachable (DatabaseUnavailable otherwise)."""
        return cls(settings, await open_pool(settings), on_change)

    @property
    def up(self) -> bool:
        return self._pool is not None

    @property
    def pool(self) -> AsyncConnectionPool[Any]:
        """The pool while the database is up; DatabaseUnavailable at once while it is down."""
        self.ensure_up()
        assert self._pool is not None
        return self._pool

    def connection(
        self, timeout: float | None = None
    ) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        """A pooled connection (wapipe.db.ConnectionSource); DatabaseUnavailable while down."""
        return self.pool.connection(timeout=timeout)

    async def retry(self, exc: Exception, attempt: int) -> bool:
        """wapipe.db.call's retry policy: too slow fails at once (and starts a check in
        the background); a failed connection asks confirm_reachable, then tries again."""
        if isinstance(exc, PoolTimeout | pg_errors.QueryCanceled):
            self.suspect(f"database too slow: {seam.reason(exc)}")
            raise DatabaseUnavailable(f"database too slow: {seam.reason(exc)}") from exc
        reachable = await self.confirm_reachable(f"connection failed: {seam.reason(exc)}")
        return reachable and attempt + 1 < _ATTEMPTS

    def ensure_up(self) -> None:
        """DatabaseUnavailable (with the reason) while the database is down."""
        if self._pool is None:
            down_for = time.monotonic() - self.down_since
            raise DatabaseUnavailable(
                f"database unreachable for {down_for:.1f} s: {self.down_reason}"
            )

    async def confirm_reachable(self, reason: str) -> bool:
        """After a connection error: can a fresh connection be made? False: down."""
        if self._pool is None or self._closed:
            return False
        if self._check is None:
            self._check = asyncio.create_task(self._run_check(reason))
        return await asyncio.shield(self._check)

    def suspect(self, reason: str) -> None:
        """A call timed out: check in the background whether the database went away."""
        if self._pool is not None and self._check is None and not self._closed:
            self._check = asyncio.create_task(self._run_check(reason))

    async def _run_check(self, reason: str) -> bool:
        try:
            pool = self._pool
            try:
                await connect_once(self.settings.database_url, self.settings.db_timeout_seconds)
            except (psycopg.Error, TimeoutError) as exc:
                self._go_down(f"{reason}; reconnecting: {first_line(str(exc)) or 'timeout'}")
                return False
            if pool is not None and self._pool is pool:
                # Reachable: connections broken by a restart are replaced now.
                try:
                    await pool.check()
                except Exception as exc:  # the pool replaces what it could not check
                    log.warning("pool check failed", reason=first_line(str(exc)))
            return True
        finally:
            self._check = None

    def _go_down(self, reason: str) -> None:
        pool, self._pool = self._pool, None
        if pool is None or self._closed:
            return
        self.down_reason = reason
        self.down_since = time.monotonic()
        log.error(
            "database unreachable: POSTs answered 503 at once until it is back",
            reason=reason,
            probe_seconds=self.settings.db_probe_seconds,
        )
        if self._on_change is not None:
            self._on_change(False)
        self._close_later(pool)
        self._probe = asyncio.create_task(self._probe_until_up())

    def _close_later(self, pool: AsyncConnectionPool[Any]) -> None:
        task = asyncio.create_task(pool.close(timeout=1.0))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _probe_until_up(self) -> None:
        settings = self.settings
        attempts = 0
        while not self._closed:
            await asyncio.sleep(settings.db_probe_seconds)
            attempts += 1
            try:
                await connect_once(settings.database_url, settings.db_timeout_seconds)
            except (psycopg.Error, TimeoutError) as exc:
                self.down_reason = first_line(str(exc)) or "timeout"
                continue
            try:
                pool = await open_pool(settings)
            except Exception as exc:  # the probe must outlive any failure
                self.down_reason = first_line(str(exc)) or type(exc).__name__
                continue
            if self._closed:
                await pool.close()
                return
            self._pool = pool
            log.warning(
                "database reachable again: POSTs are stored again",
                down_seconds=round(time.monotonic() - self.down_since, 3),
                probes=attempts,
            )
            if self._on_change is not None:
                self._on_change(True)
            return

    async def close(self) -> None:
        self._closed = True
        for task in (self._probe, self._check):
            if task is not None:
                task.cancel()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


async def ingest(
    db: Database, payload_json: str, correlation_id: str, timeout: float
) -> IngestResult:
    """Store one webhook in ONE round trip; returns once the transaction committed."""
    params = {"payload": payload_json, "correlation_id": correlation_id}
    rows = await _call(db, queries.INGEST_WEBHOOK, params, timeout)
    if len(rows) != 1:
        raise DatabaseUnavailable("ingest_webhook returned no row")
    return IngestResult(*(int(v) for v in rows[0]))


async def ingest_many(
    db: Database,
    payloads_json: list[str],
    correlation_ids: list[str],
    timeout: float,
) -> list[IngestResult]:
    """Store several webhooks in ONE round trip and ONE transaction (all or nothing)."""
    params = {"payloads": "[" + ",".join(payloads_json) + "]", "correlation_ids": correlation_ids}
    rows = await _call(db, queries.INGEST_WEBHOOKS, params, timeout)
    if len(rows) != len(payloads_json):
        raise DatabaseUnavailable(
            f"ingest_webhooks returned {len(rows)} rows for {len(payloads_json)} payloads"
        )
    by_ord = {int(r[0]): r for r in rows}
    return [
        IngestResult(
            event_id=int(r[1]),
            new_messages=int(r[2]),
            duplicates=int(r[3]),
            statuses=int(r[4]),
            errors=int(r[5]),
            batch_size=len(payloads_json),
        )
        for r in (by_ord[i] for i in range(1, len(payloads_json) + 1))
    ]


async def _call(
    db: Database, sql: LiteralString, params: dict[str, Any], timeout: float
) -> list[tuple[Any, ...]]:
    """Run one autocommit ingest statement through the seam; its rows once committed.

    Fails at once while the database is down (Database.connection raises).
    """
    try:
        async with asyncio.timeout(timeout):
            return await seam.call(
                db, sql, params, retry=db.retry, deadline=time.monotonic() + timeout
            )
    except (Refused, DatabaseUnavailable):
        raise
    except TimeoutError as exc:
        db.suspect(f"no answer within {timeout:g} s")
        raise DatabaseUnavailable(f"database did not answer within {timeout:g} s") from exc
    except (DatabaseRefusal, psycopg.Error) as exc:
        raise DatabaseUnavailable(f"database error: {seam.reason(exc)}") from exc


@dataclass(frozen=True)
class _Post:
    payload_json: str
    correlation_id: str


class IngestBatcher:
    """Group commit for POST /webhook: concurrent POSTs share one ingest call.

    A POST that finds a free call slot (fewer than `calls_max` ingest calls
    running) is sent at once, alone: no added latency when traffic is light.
    POSTs that arrive while every slot is busy wait, and the next free slot takes
    all of them (up to `batch_max`) in one `ingest_webhooks` call, one commit.
    Under load this trades a little waiting for far fewer commits and round trips.

    All or nothing: if the database refuses any payload of a group (not a
    webhook, a NUL byte…), nothing of it is stored and each payload of the group
    is sent again alone, so only the bad one is refused. A POST whose caller gave
    up before its group was sent is dropped from the group (its 503 stays true).
    The grouping itself is wapipe.group_commit, shared with the worker.
    """

    def __init__(self, db: Database, *, batch_max: int, calls_max: int, timeout: float) -> None:
        self.db = db
        self.timeout = timeout
        self._group: GroupCommit[_Post, IngestResult] = GroupCommit(
            self._ingest_group,
            max_batch=batch_max,
            max_calls=calls_max,
            eager=True,
            run_one=self._ingest_alone,
            split_on=(PayloadRejected,),
            budget_seconds=timeout,
        )

    async def ingest(self, payload_json: str, correlation_id: str) -> IngestResult:
        """Store one webhook (possibly with others); returns once it is committed.

        While the database is down: DatabaseUnavailable at once, nothing queued."""
        self.db.ensure_up()
        try:
            # past the budget: not sent yet, it is left out; sent, its answer is dropped
            return await self._group.submit(_Post(payload_json, correlation_id))
        except TimeoutError as exc:
            raise DatabaseUnavailable(f"database did not answer within {self.timeout:g} s") from exc

    async def _ingest_group(self, posts: list[_Post]) -> list[IngestResult]:
        try:
            return await ingest_many(
                self.db,
                [p.payload_json for p in posts],
                [p.correlation_id for p in posts],
                self.timeout,
            )
        except PayloadRejected as exc:
            # Someone's payload is bad and nothing was stored: each on its own.
            log.info(
                "ingest group refused, storing its POSTs one by one",
                size=len(posts),
                reason=str(exc),
            )
            raise

    async def _ingest_alone(self, post: _Post) -> IngestResult:
        return await ingest(self.db, post.payload_json, post.correlation_id, self.timeout)


async def pending_migrations(
    pool: AsyncConnectionPool[Any], expected: frozenset[str], timeout: float
) -> list[str]:
    """Migrations on disk the database has not applied; DatabaseUnavailable if unreachable."""
    try:
        async with asyncio.timeout(timeout):
            rows = await seam.call(
                pool,
                queries.APPLIED_MIGRATIONS,
                retry=seam.ONCE,
                deadline=time.monotonic() + timeout,
            )
    except pg_errors.UndefinedTable:
        return sorted(expected)
    except (DatabaseRefusal, psycopg.Error, TimeoutError) as exc:
        raise DatabaseUnavailable(first_line(str(exc)) or "timeout") from exc
    applied = {str(r[0]) for r in rows}
    return sorted(expected - applied)


@dataclass(frozen=True)
class StatusSnapshot:
    """What GET /status shows: system_health(), status_page_series(), the breaker board."""

    health: tuple[Any, ...]
    series: list[tuple[Any, ...]]
    breakers: list[tuple[Any, ...]]
    handoffs: list[tuple[Any, ...]] = field(default_factory=list)


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
            health = await (await conn.execute(queries.SYSTEM_HEALTH__STATUS_PAGE)).fetchone()
            series = await (
                await conn.execute(queries.STATUS_PAGE_SERIES, {"minutes": minutes})
            ).fetchall()
            breakers = await (await conn.execute(queries.CIRCUIT_BREAKER_STATUS)).fetchall()
            handoffs = await (await conn.execute(queries.LIST_HANDOFFS__STATUS_PAGE)).fetchall()
    except pg_errors.InsufficientPrivilege as exc:
        raise StatusForbidden(
            f"{seam.reason(exc)} (grant the wapipe_monitor role to the ingress database user)"
        ) from exc
    except (psycopg.Error, PoolTimeout, TimeoutError) as exc:
        reason = seam.reason(exc) if isinstance(exc, psycopg.Error) else "timeout"
        raise DatabaseUnavailable(reason) from exc
    if health is None:
        raise DatabaseUnavailable("system_health returned no row")
    return StatusSnapshot(
        health=tuple(health),
        series=list(series),
        breakers=list(breakers),
        handoffs=list(handoffs),
    )
