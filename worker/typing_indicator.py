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
own short budget (`timeout_seconds`, 5 s, a token wait included). A call spends a
token of the business number's send bucket (Meta counts it against the number's
throughput) and goes only while the `whatsapp-graph` breaker is closed (a trial slot
is never taken). Both come from the worker's reservoir for that number (`Reservoir`):
wapipe.admit_typing_indicator reads the breaker and takes a few tokens ahead in one
round trip; the worker spends them on its next calls without a round trip (so a
call's latency is its HTTP call's) and refills in the background before they run
out, one refill in flight per number, sized to the last calls' rate (the first after a
worker start: what may be held ahead, as no rate is known yet). A token not
spent within RESERVOIR_LIFETIME_SECONDS lapses (the bucket refills: pacing is only
ever stricter). `paced` (no token: none taken until the bucket says one is due) and
`breaker_open` (believed for BREAKER_RECHECK_SECONDS, the reservoir emptied) are
answered from the reservoir too. A failure counts against the breaker exactly when a
send's would (SendResult.breaker_ok) and empties every reservoir, so the next call
reads the breaker again; successes are recorded in one batch a second.
A message answered before its first call left (a fast agent) gets a mark-read
call without the indicator, which would otherwise linger after the reply.

The refills use a small pool of their own (2 connections): a burst of calls never
takes a connection the claim loop needs. Both are opened at worker start, before the
worker registers (`start`), and each new one rehearses the admission in a transaction
rolled back (wapipe.db.rehearse: no token spent, no bucket row kept), so the first
refills find their functions compiled and planned; the HTTP client's network stack is
loaded then too (no connection opened, no request sent). Its sessions commit asynchronously
(synchronous_commit = off): what they write (tokens taken, a breaker outcome) is
best effort anyway, and a commit no longer waits for the WAL flush (a crash may
forget the last few tokens taken; the bucket refills anyway).
Off for a service with `typing = false`, and in dry-run (no access token) unless
WHATSAPP_API_URL is set (the playground, tests). Metric
wapipe_typing_indicators_total{outcome} and one log line per call (masked user).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from wapipe import db, queries
from wapipe.errors import DatabaseRefusal, DatabaseUnavailable
from wapipe.log import get_logger
from wapipe.settings import Settings
from worker.config import ServiceConfig, TypingConfig
from worker.graph import GraphCalls, Outcome, SendResult, mask_recipient, pacing_bucket
from worker.metrics import WorkerMetrics
from worker.store import ClaimedMessage
from worker.success_batch import SuccessBatch

log = get_logger("worker.typing")
_INFO = logging.getLogger("worker.typing")

BREAKER_NAME = "whatsapp-graph"  # the sender's (worker.sender.BREAKER_NAME)
ENDPOINT = "/{phone_number_id}/messages"
# Reservoir: a token taken ahead and not spent within this lapses; tokens held ahead are
# the calls of the last AHEAD_SECONDS (a refill's round trip on a loaded machine, and
# quick to follow a burst's start), at most half the bucket's capacity (the sender's
# replies need the rest)
RESERVOIR_LIFETIME_SECONDS = 1.0
AHEAD_SECONDS = 0.25
BREAKER_RECHECK_SECONDS = 1.0


def graph_calls_enabled(settings: Settings) -> bool:
    """A real access token, or a Graph API URL set on purpose (a stand-in: playground, tests)."""
    return bool(settings.access_token) or settings.api_url != Settings().api_url


def newest_wamid(msg: ClaimedMessage) -> str:
    """The message a turn marks read: the newest of its burst (WhatsApp then shows every
    earlier one read too), else the message itself."""
    return msg.burst[-1].wamid if msg.burst else msg.wamid


class Turn:
    """The indicator of one message: shown now, refreshed until stop()."""

    def __init__(self, calling: bool = True) -> None:
        self._stopped = asyncio.Event()
        # a task calls the Graph API for it (False: typing is off for this message)
        self.calling = calling

    def stop(self) -> None:
        """The reply is about to be queued (or the turn ended otherwise): no more calls.
        A call already on its way finishes within its own budget."""
        self._stopped.set()


_NO_TURN = Turn(calling=False)
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
        # successes while closed, recorded in batches (worker.success_batch)
        self._successes = SuccessBatch(self._record_successes)
        self._outcomes = {o: self.metrics.typing_indicators.labels(o) for o in _OUTCOMES}
        self._reservoirs: dict[str, Reservoir] = {}

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
        # its own small pool: a typing call never waits behind the claim loop's, and its
        # sessions commit asynchronously (the token spent, breaker outcomes: best effort)
        own_pool = db.new_pool(
            str(pool.conninfo),
            "typing",
            min_size=2,
            max_size=2,
            application_name="wapipe-worker-typing",
            session={"synchronous_commit": "off"},
            configure=warm_admission(*pacing_bucket(rate_per_second)),
        )
        return cls(calls, own_pool, config, rate_per_second=rate_per_second, metrics=metrics)

    async def start(self, timeout: float) -> None:
        """Ready at worker start, before the worker says it is: the pool's connections open
        and warmed (warm_admission), the HTTP client's network stack loaded. The first
        messages' calls then pay for neither (nor time out on them). DatabaseUnavailable
        when the connections are not there within `timeout` (the pool keeps trying)."""
        if self.pool is None:
            return
        if self.pool.closed:
            await self.pool.open(wait=False)
        await db.ready(self.pool, timeout)
        if self.calls is not None:
            await self.calls.warm_up()

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

    def reservoir(self, phone_number_id: str) -> Reservoir:
        """The business number's reservoir of send tokens (made on its first call)."""
        found = self._reservoirs.get(phone_number_id)
        if found is None:

            async def admit(tokens: int) -> tuple[str, int, int]:
                return await self._admit(phone_number_id, tokens)

            found = self._reservoirs[phone_number_id] = Reservoir(
                admit, self.max_per_window, max(1, self.max_per_window // 2)
            )
        return found

    async def show(self, msg: ClaimedMessage, typing: bool = True) -> str:
        """One admitted call (never raises): its outcome, counted and logged."""
        started = time.monotonic()
        result: SendResult | None = None
        try:
            async with asyncio.timeout(self.config.timeout_seconds):
                verdict = await self.reservoir(msg.phone_number_id).take()
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
        except (DatabaseUnavailable, DatabaseRefusal, psycopg.Error) as exc:
            outcome = "failed"
            result = SendResult(Outcome.RETRY, 0, error=f"database: {db.reason(exc)}")
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
                "user": mask_recipient(msg.user),
                "duration_ms": int((time.monotonic() - started) * 1000),
            }
            if result is not None and outcome != "sent":
                fields.update(error=result.error, error_code=result.error_code)
            (log.info if outcome in ("sent", "read_only", "paced") else log.warning)(
                "typing_indicator", **fields
            )
        return outcome

    async def _admit(self, phone_number_id: str, tokens: int) -> tuple[str, int, int]:
        """One round trip: (verdict, tokens taken, retry_after_ms)."""
        assert self.pool is not None
        if self.pool.closed:
            await self.pool.open(wait=False)
        rows = await db.call(
            self.pool,
            queries.ADMIT_TYPING_INDICATOR,
            {
                "phone_number_id": phone_number_id,
                "breaker": self.breaker_name,
                "max_per_window": self.max_per_window,
                "per": self.per,
                "tokens": tokens,
            },
            retry=db.ONCE,
        )
        if not rows:
            return "failed", 0, 0
        verdict, granted, retry_after_ms = rows[0]
        return str(verdict), int(granted), int(retry_after_ms)

    async def _record(self, result: SendResult) -> None:
        """A failure counts against the breaker when a send's would, now, after the
        successes waiting for their batch (worker.success_batch): sends and typing share
        the breaker's rate."""
        if result.breaker_ok:
            if result.outcome is Outcome.SENT:
                self._successes.add(self.breaker_name, ENDPOINT, result.duration_ms)
            return
        for reservoir in self._reservoirs.values():
            reservoir.empty()  # the breaker may open now: the next call reads it again
        assert self.pool is not None
        await self._successes.before_failure(self.breaker_name)
        await db.call(
            self.pool,
            queries.BREAKER_RECORD,
            {
                "name": self.breaker_name,
                "ok": False,
                "duration_ms": result.duration_ms,
                "endpoint": ENDPOINT,
                "error": f"typing: {result.error or result.outcome.value}"[:200],
            },
            retry=db.ONCE,
        )

    async def _record_successes(self, name: str, endpoint: str, durations: list[int]) -> None:
        if self.pool is None:
            return
        try:
            await db.call(
                self.pool,
                queries.BREAKER_RECORD_SUCCESSES,
                {"name": name, "durations_ms": durations, "endpoint": endpoint},
                retry=db.ONCE,
            )
        except (DatabaseUnavailable, DatabaseRefusal, psycopg.Error) as exc:
            log.warning("breaker_record_failed", service=name, error=db.reason(exc))

    async def aclose(self) -> None:
        """Cancel the calls still running (the worker stops) and close the client."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for reservoir in self._reservoirs.values():
            await reservoir.aclose()
        with contextlib.suppress(Exception):
            await self._successes.aclose()
        if self.calls is not None:
            await self.calls.aclose()
        if self.pool is not None and not self.pool.closed:
            await self.pool.close(timeout=2)


_OUTCOMES = ("sent", "read_only", "failed", "timeout", "paced", "breaker_open", "busy")


def warm_admission(
    max_per_window: int, per: str
) -> Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]:
    """The typing pool's `configure`: a new connection rehearses two admissions of one
    token, rolled back, for a bucket no business number has (its own key): the first
    makes the bucket row, the second takes from it, so both paths of the bucket rule are
    compiled and planned before a refill needs them. Nothing is kept: no token of a
    business number is spent, no row stays, the breaker is only read."""

    async def warm(conn: psycopg.AsyncConnection[Any]) -> None:
        args = {
            "phone_number_id": f"wapipe-warm-up-{uuid.uuid4().hex}",
            "breaker": BREAKER_NAME,
            "max_per_window": max_per_window,
            "per": per,
            "tokens": 1,
        }
        refused = await db.rehearse(
            conn, [(queries.ADMIT_TYPING_INDICATOR, args), (queries.ADMIT_TYPING_INDICATOR, args)]
        )
        if refused is not None:
            log.info("typing_connection_not_warmed", reason=refused)

    return warm


Admit = Callable[[int], Awaitable[tuple[str, int, int]]]


class Reservoir:
    """Tokens of one business number's send bucket, taken ahead by this worker.

    take() spends a held token at once ("go"); with none held it waits for the refill
    in flight (starting one if none is), or answers the last refill's refusal while it
    holds (`paced` until the bucket's next token is due, `breaker_open` for
    BREAKER_RECHECK_SECONDS). After a spend, a background refill tops the reservoir up
    once it is down to half of what it should hold ahead. `admit(tokens)` is the one
    round trip (wapipe.admit_typing_indicator): (verdict, granted, retry_after_ms).
    """

    def __init__(
        self,
        admit: Admit,
        max_per_call: int,
        max_ahead: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._admit = admit
        self.max_per_call = max_per_call
        self.max_ahead = max_ahead
        self._clock = clock
        self._expiries: deque[float] = deque()  # one per token held, oldest first
        self._calls: deque[float] = deque()  # when the calls of the last AHEAD_SECONDS came
        self._refill: asyncio.Task[None] | None = None
        self._refused_until = 0.0
        self._refusal = "paced"
        self._waiting = 0
        self._refilled = False  # no refill yet: the number's rate is unknown

    @property
    def held(self) -> int:
        self._lapse(self._clock())
        return len(self._expiries)

    def ahead(self) -> int:
        """Tokens to hold ahead: as many as calls came in the last AHEAD_SECONDS."""
        return min(self.max_ahead, len(self._calls))

    async def take(self) -> str:
        """A token for one call now: 'go', else 'paced' or 'breaker_open'."""
        now = self._clock()
        self._calls.append(now)
        while self._calls[0] <= now - AHEAD_SECONDS:
            self._calls.popleft()
        while True:
            self._lapse(now)
            if self._expiries:
                self._expiries.popleft()
                self._top_up(now)
                return "go"
            if now < self._refused_until:
                return self._refusal
            self._waiting += 1
            try:
                # shielded: one call's budget running out never cancels the shared refill
                await asyncio.shield(self._start(max(self.ahead(), self._waiting)))
            finally:
                self._waiting -= 1
            now = self._clock()

    def empty(self) -> None:
        self._expiries.clear()

    async def aclose(self) -> None:
        if self._refill is not None:
            self._refill.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refill

    def _lapse(self, now: float) -> None:
        while self._expiries and self._expiries[0] <= now:
            self._expiries.popleft()

    def _top_up(self, now: float) -> None:
        """Refill in the background once down to half of `ahead`; a quiet number (a call
        now and then) takes nothing ahead: it would lapse unspent."""
        ahead, held = self.ahead(), len(self._expiries)
        if ahead >= 2 and held <= ahead // 2 and now >= self._refused_until:
            self._start(ahead - held)

    def _start(self, tokens: int) -> asyncio.Task[None]:
        if self._refill is None or self._refill.done():
            self._refill = asyncio.create_task(self._fill(min(tokens, self.max_per_call)))
            self._refill.add_done_callback(_retrieve)
        return self._refill

    async def _fill(self, tokens: int) -> None:
        # asked for when it leaves, not when it was started: the calls that came meanwhile
        # wait for it too (a cold start's, or a backlog's, calls of one batch come at once)
        tokens = max(tokens, self._waiting)
        if not self._refilled:
            # A worker that just started knows no rate: traffic may already be flowing (a
            # restart, a scale-up), and learning it would make each of the first calls
            # wait for a round trip. The first refill takes what may be held ahead; for a
            # quiet number the rest lapses unspent, once per worker start.
            tokens, self._refilled = max(tokens, self.max_ahead), True
        tokens = min(tokens, self.max_per_call)
        verdict, granted, retry_after_ms = await self._admit(tokens)
        now = self._clock()
        if verdict == "go":
            # lapse counted from the answer: a round trip slower than the lifetime (a
            # saturated database) must not bring tokens that lapse on arrival, sending
            # the waiting call for another refill
            self._expiries.extend([now + RESERVOIR_LIFETIME_SECONDS] * granted)
        elif verdict == "paced":
            self._refused_until, self._refusal = now + retry_after_ms / 1000, verdict
        else:
            self.empty()
            self._refused_until, self._refusal = now + BREAKER_RECHECK_SECONDS, verdict


def _retrieve(task: asyncio.Task[None]) -> None:
    """A background refill's error is the next waiting call's ("failed"), not a log line."""
    if not task.cancelled():
        task.exception()
