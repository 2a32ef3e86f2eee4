"""Read receipt + typing indicator while the agent thinks (issue 16, point 1).

When the handler is about to call an agent or a workflow for a message it will
answer, `TypingIndicator.turn(msg, service)` starts a fire-and-forget task: one
Graph API call that marks the message read and shows "typing…" to its sender
(`{"status": "read", "message_id": <wamid>, "typing_indicator": {"type": "text"}}`
to /{phone_number_id}/messages). Meta hides the indicator after 25 s or when the
reply arrives, so the task shows it again every `refresh_seconds` (20 s) until the
handler calls `Turn.stop()` — right after the agent answers, before the reply is
queued — and never after. Messages that get no reply (reactions and echoes never
reach the handler; revoked, rate-limited or handed-off messages return before the
hook) get no call.

Best effort: the task never delays, fails or retries the message. Each call has its
own short budget (`timeout_seconds`, 5 s, database round trip included). Before it,
one round trip (wapipe.admit_typing_indicator) reads the `whatsapp-graph` breaker
(skip unless closed; a trial slot is never taken) and takes a token of the business
number's send bucket (Meta counts the call against the number's throughput: skip
when none is free). A failure counts against the breaker exactly when a send's
would (SendResult.breaker_ok); successes are recorded in one batch a second.
A message answered before its first call left (a fast agent) gets a mark-read
call without the indicator, which would otherwise linger after the reply.

The calls use a small pool of their own (2 connections): a burst of calls never
takes a connection the claim loop needs. Its sessions commit asynchronously
(synchronous_commit = off): what they write (a token spent, a breaker outcome) is
best effort anyway, and a commit no longer waits for the WAL flush on the way to the
indicator (a crash may forget the last few tokens spent; the bucket refills anyway).
A local token bucket per number at the same rate answers `paced` without a database
round trip when even this worker alone would exceed the number's pacing.
Off for a service with `typing = false`, and in dry-run (no access token) unless
WHATSAPP_API_URL is set (the playground, tests). Metric
wapipe_typing_indicators_total{outcome} and one log line per call (masked user).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, LiteralString

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from wapipe.db import first_line
from wapipe.log import get_logger
from wapipe.settings import Settings
from worker.config import ServiceConfig, TypingConfig
from worker.graph import GraphCalls, Outcome, SendResult, mask_recipient, pacing_bucket
from worker.metrics import WorkerMetrics
from worker.store import ClaimedMessage

log = get_logger("worker.typing")
_INFO = logging.getLogger("worker.typing")

BREAKER_NAME = "whatsapp-graph"  # the sender's (worker.sender.BREAKER_NAME)
ENDPOINT = "/{phone_number_id}/messages"
SUCCESS_FLUSH_SECONDS = 1.0

ADMIT: LiteralString = (
    "SELECT wapipe.admit_typing_indicator(%(phone_number_id)s, %(breaker)s,"
    " %(max_per_window)s, %(per)s::interval)"
)
BREAKER_RECORD: LiteralString = (
    "SELECT wapipe.breaker_record(%(name)s, false, %(duration_ms)s, %(endpoint)s, %(error)s)"
)
BREAKER_RECORD_SUCCESSES: LiteralString = (
    "SELECT wapipe.breaker_record_successes(%(name)s, %(durations_ms)s::int[], %(endpoint)s)"
)


def graph_calls_enabled(settings: Settings) -> bool:
    """A real access token, or a Graph API URL set on purpose (a stand-in: playground, tests)."""
    return bool(settings.access_token) or settings.api_url != Settings().api_url


def newest_wamid(msg: ClaimedMessage) -> str:
    """The message a turn marks read: the newest of its burst (WhatsApp then shows every
    earlier one read too), else the message itself."""
    return msg.burst[-1].wamid if msg.burst else msg.wamid


class Turn:
    """The indicator of one message: shown now, refreshed until stop()."""

    def __init__(self) -> None:
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        """The reply is about to be queued (or the turn ended otherwise): no more calls.
        A call already on its way finishes within its own budget."""
        self._stopped.set()


_NO_TURN = Turn()
_NO_TURN.stop()


class TypingIndicator:
    def __init__(
        self,
        calls: GraphCalls | None,
        pool: AsyncConnectionPool[Any] | None,
        config: TypingConfig,
        *,
        rate_per_second: int = 80,
        metrics: WorkerMetrics | None = None,
        breaker_name: str = BREAKER_NAME,
    ) -> None:
        self.calls = calls
        self.pool = pool
        self.config = config
        self.max_per_window, self.per = pacing_bucket(rate_per_second)
        self.metrics = metrics or WorkerMetrics()
        self.breaker_name = breaker_name
        self._tasks: set[asyncio.Task[None]] = set()
        self._successes: list[int] = []
        self._flusher: asyncio.Task[None] | None = None
        self._outcomes = {o: self.metrics.typing_indicators.labels(o) for o in _OUTCOMES}
        self._local_rate = float(rate_per_second)
        # per business number: (tokens, at)
        self._local: dict[str, tuple[float, float]] = {}

    @classmethod
    def create(
        cls,
        settings: Settings,
        config: TypingConfig,
        pool: AsyncConnectionPool[Any],
        metrics: WorkerMetrics,
        rate_per_second: int,
    ) -> TypingIndicator:
        if not graph_calls_enabled(settings):
            return cls(None, None, config, rate_per_second=rate_per_second, metrics=metrics)
        calls = GraphCalls(settings.api_url, settings.access_token or "dry-run")
        own_pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            str(pool.conninfo),
            min_size=1,
            max_size=2,
            open=False,
            name="wapipe-typing",
            kwargs={
                "autocommit": True,
                "application_name": "wapipe-worker-typing",
                "options": "-c synchronous_commit=off",
            },
        )
        return cls(calls, own_pool, config, rate_per_second=rate_per_second, metrics=metrics)

    async def start(self) -> None:
        """Connect the indicator's pool at worker start, in the background: the first
        message's call should not pay for a connection (nor time out on one)."""
        if self.pool is not None and self.pool.closed:
            await self.pool.open(wait=False)

    @property
    def enabled(self) -> bool:
        return self.calls is not None and self.pool is not None

    def turn(self, msg: ClaimedMessage, service: ServiceConfig | None = None) -> Turn:
        """Start showing the indicator for `msg` (no-op when off for this service)."""
        if not self.enabled or (service is not None and not service.typing):
            return _NO_TURN
        if len(self._tasks) >= self.config.max_pending:
            self._outcomes["busy"].inc()
            return _NO_TURN
        turn = Turn()
        task = asyncio.create_task(self._run(msg, turn), name=f"typing-{msg.msg_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return turn

    async def _run(self, msg: ClaimedMessage, turn: Turn) -> None:
        if turn._stopped.is_set():  # answered before the first call left: mark read only
            await self.show(msg, typing=False)
            return
        while True:
            await self.show(msg)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(turn._stopped.wait(), self.config.refresh_seconds)
            if turn._stopped.is_set():
                return

    def _local_token(self, phone_number_id: str) -> bool:
        now = time.monotonic()
        tokens, at = self._local.get(phone_number_id, (float(self.max_per_window), now))
        tokens = min(float(self.max_per_window), tokens + (now - at) * self._local_rate)
        allowed = tokens >= 1
        self._local[phone_number_id] = (tokens - 1 if allowed else tokens, now)
        return allowed

    async def show(self, msg: ClaimedMessage, typing: bool = True) -> str:
        """One admitted call (never raises): its outcome, counted and logged."""
        started = time.monotonic()
        result: SendResult | None = None
        try:
            async with asyncio.timeout(self.config.timeout_seconds):
                verdict = (
                    await self._admit(msg.phone_number_id)
                    if self._local_token(msg.phone_number_id)
                    else "paced"
                )
                if verdict == "go":
                    assert self.calls is not None
                    result = await self.calls.typing(
                        msg.phone_number_id, newest_wamid(msg), self.config.timeout_seconds, typing
                    )
                    outcome = "sent" if result.outcome is Outcome.SENT else "failed"
                    if outcome == "sent" and not typing:
                        outcome = "read_only"
                    if result.outcome is Outcome.UNKNOWN and "Timeout" in result.error:
                        outcome = "timeout"
                    await self._record(result)
                else:
                    outcome = verdict
        except TimeoutError:
            outcome = "timeout"
        except (psycopg.Error, PoolTimeout) as exc:
            outcome = "failed"
            result = SendResult(Outcome.RETRY, 0, error=f"database: {first_line(str(exc))}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # best effort: nothing here may reach the message
            outcome = "failed"
            result = SendResult(Outcome.RETRY, 0, error=f"{type(exc).__name__}")
        self._outcomes[outcome].inc()
        if outcome not in ("sent", "read_only", "paced") or _INFO.isEnabledFor(logging.INFO):
            fields: dict[str, Any] = {
                "outcome": outcome,
                "msg_id": msg.msg_id,
                "user": mask_recipient(msg.from_wa_id),
                "duration_ms": int((time.monotonic() - started) * 1000),
            }
            if result is not None and outcome != "sent":
                fields.update(error=result.error, error_code=result.error_code)
            (log.info if outcome in ("sent", "read_only", "paced") else log.warning)(
                "typing_indicator", **fields
            )
        return outcome

    async def _admit(self, phone_number_id: str) -> str:
        assert self.pool is not None
        if self.pool.closed:
            await self.pool.open(wait=False)
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                ADMIT,
                {
                    "phone_number_id": phone_number_id,
                    "breaker": self.breaker_name,
                    "max_per_window": self.max_per_window,
                    "per": self.per,
                },
            )
            row = await cur.fetchone()
        return str(row[0]) if row else "failed"

    async def _record(self, result: SendResult) -> None:
        """A failure counts against the breaker when a send's would, now; a success is
        batched (SUCCESS_FLUSH_SECONDS): sends and typing share the breaker's rate."""
        if result.breaker_ok:
            if result.outcome is Outcome.SENT:
                self._successes.append(result.duration_ms)
                if self._flusher is None or self._flusher.done():
                    self._flusher = asyncio.create_task(self._flush_later())
            return
        assert self.pool is not None
        async with self.pool.connection() as conn:
            await conn.execute(
                BREAKER_RECORD,
                {
                    "name": self.breaker_name,
                    "duration_ms": result.duration_ms,
                    "endpoint": ENDPOINT,
                    "error": f"typing: {result.error or result.outcome.value}"[:200],
                },
            )

    async def _flush_later(self) -> None:
        await asyncio.sleep(SUCCESS_FLUSH_SECONDS)
        await self.flush()

    async def flush(self) -> None:
        durations, self._successes = self._successes, []
        if not durations or self.pool is None:
            return
        try:
            async with self.pool.connection() as conn:
                await conn.execute(
                    BREAKER_RECORD_SUCCESSES,
                    {"name": self.breaker_name, "durations_ms": durations, "endpoint": ENDPOINT},
                )
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning(
                "breaker_record_failed", service=self.breaker_name, error=first_line(str(exc))
            )

    async def aclose(self) -> None:
        """Cancel the calls still running (the worker stops) and close the client."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._flusher is not None:
            self._flusher.cancel()
        with contextlib.suppress(Exception):
            await self.flush()
        if self.calls is not None:
            await self.calls.aclose()
        if self.pool is not None and not self.pool.closed:
            await self.pool.close(timeout=2)


_OUTCOMES = ("sent", "read_only", "failed", "timeout", "paced", "breaker_open", "busy")
