"""The outbox sender: claim -> 24-hour window -> pace -> breaker -> send -> record.

`run_sender` loops until `stop` is set: it claims a batch of wapipe.outbox rows
(claim_outbox: one row per recipient at a time, in order), and for each row

1. fails it with 131047 without calling Meta when the recipient's 24-hour
   customer-service window is closed and the body is not a template;
2. starts the send (start_outbox_send): takes a token of the business number's
   bucket (`check_rate_limit('send:<phone_number_id>', rate/10, '100 ms')`: 80/s by
   default, bursts of at most rate/10), waiting while there is none, and stamps the
   row started - from then on a crash leaves its outcome unknown;
3. asks the shared `whatsapp-graph` breaker; when it is open the rest of the batch
   is given back unsent (release_outbox: no attempt counted) and the loop waits;
4. POSTs it (worker.graph) and records the outcome with the breaker and on the row:
   sent + wamid, retry with backoff (131056: per-recipient pair backoff), failed
   for good (190 also logs an alert line), or unknown.

With no WHATSAPP_ACCESS_TOKEN every claimed row is marked dry_run: nothing is sent.

The recipient is the outbox row's address: a phone number, a BSUID or
group:<group_id> (worker.graph.recipient_fields builds the Cloud API fields);
logs show it masked (worker.graph.mask_recipient).

No reply sent twice (invariant 4). A row whose send outcome is unknown - the
worker died between starting the send and recording its result, or the call ended
without an answer (read timeout, dropped connection) - stays 'sending'. As soon as
a status webhook carrying its biz_opaque_callback_data "outbox:<id>" is stored, the
recipient's later replies may go, and once its lease is over the row is marked sent
with that wamid. Without one it is sent again outbox.unknown_outcome_grace_seconds
(30 s) after its lease ended. Only that recipient waits: rows of a dead sender's
batch that it never started are claimed again when the lease ends. Remaining
window, honestly: if Meta accepted the message but none of its status webhooks was
stored within lease + grace (webhooks delayed, or our ingress or database down for
that long), the message is sent a second time. A send that outlives its lease
(lock_seconds) plus the grace could also be duplicated; the HTTP timeout is kept
well below the lease and a batch starts no send after its lease budget.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, LiteralString

import psycopg
from psycopg_pool import AsyncConnectionPool

from wapipe import db
from wapipe import queries as q
from wapipe.errors import ClaimLost, DatabaseRefusal, DatabaseUnavailable
from wapipe.log import configure_logging, get_logger
from wapipe.settings import SenderSettings, Settings, load_settings
from worker.aio import wait_event
from worker.graph import (
    TOKEN_INVALID,
    WINDOW_CLOSED,
    GraphClient,
    Outcome,
    SendResult,
    mask_recipient,
)
from worker.metrics import WorkerMetrics, send_result_code

__all__ = ["LeaseLost", "OutboxRow", "SenderConfig", "SenderUnavailable", "main", "run_sender"]

log = get_logger("worker.sender")

BREAKER_NAME = SenderSettings.breaker_name


# The sender's tunables (WAPIPE_SEND_*) are settings: Settings.sender.
SenderConfig = SenderSettings


@dataclass(frozen=True)
class OutboxRow:
    id: int
    phone_number_id: str
    recipient: str  # the user key the reply goes to (phone, BSUID or group:<id>)
    body: dict[str, Any]
    attempts: int
    correlation_id: str | None
    window_open: bool
    locked_until: dt.datetime

    @property
    def is_template(self) -> bool:
        return self.body.get("type") == "template"

    @property
    def has_window_fallback(self) -> bool:
        """The reply carries a template to send instead once the 24-hour window has closed."""
        fallback = self.body.get("outside_window")
        return isinstance(fallback, dict) and fallback.get("type") == "template"

    @property
    def message(self) -> dict[str, Any]:
        """The message object to send while the window is open (wapipe's own keys removed)."""
        return {k: v for k, v in self.body.items() if k != "outside_window"}


# The seam's errors under the sender's names (wapipe.errors, translated by wapipe.db.call).
SenderUnavailable = DatabaseUnavailable
"""The database cannot be reached or refused the call for a reason the sender cannot fix."""
LeaseLost = ClaimLost
"""SQLSTATE WA001 (lease not held): this worker no longer holds the outbox row."""


class _OutboxStore:
    """The sender's typed calls: named statements of wapipe.queries through wapipe.db.call."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def _rows(self, sql: LiteralString, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        # No retry here: the loop itself tries again next cycle, and a call that fails
        # for any reason but a lost lease waits for that cycle.
        try:
            return await db.call(self.pool, sql, params, retry=db.ONCE)
        except ClaimLost:
            raise
        except (DatabaseRefusal, psycopg.Error) as exc:
            raise SenderUnavailable(db.reason(exc)) from exc

    async def _scalar(self, sql: LiteralString, params: dict[str, Any]) -> Any:
        rows = await self._rows(sql, params)
        return rows[0][0] if rows else None

    async def claim(self, worker_id: str, batch: int, lock_seconds: int) -> list[OutboxRow]:
        rows = await self._rows(
            q.CLAIM_OUTBOX, {"worker_id": worker_id, "batch": batch, "lock_seconds": lock_seconds}
        )
        return [OutboxRow(*r) for r in rows]

    async def mark_sent(self, row_id: int, worker_id: str, wamid: str) -> None:
        await self._rows(q.MARK_OUTBOX_SENT, {"id": row_id, "worker_id": worker_id, "wamid": wamid})

    async def mark_failed(
        self,
        row_id: int,
        worker_id: str,
        error_code: int | None,
        error: str,
        retryable: bool,
        retry_after_seconds: int | None = None,
    ) -> dt.datetime | None:
        value: dt.datetime | None = await self._scalar(
            q.MARK_OUTBOX_FAILED,
            {
                "id": row_id,
                "worker_id": worker_id,
                "error_code": error_code,
                "error": error,
                "retryable": retryable,
                "retry_after_seconds": retry_after_seconds,
            },
        )
        return value

    async def mark_unknown(self, row_id: int, worker_id: str, error: str) -> dt.datetime | None:
        value: dt.datetime | None = await self._scalar(
            q.MARK_OUTBOX_UNKNOWN, {"id": row_id, "worker_id": worker_id, "error": error}
        )
        return value

    async def mark_window_closed(
        self, row_id: int, worker_id: str, error_code: int | None, reason: str
    ) -> None:
        await self._rows(
            q.MARK_OUTBOX_WINDOW_CLOSED,
            {"id": row_id, "worker_id": worker_id, "error_code": error_code, "reason": reason},
        )

    async def use_window_fallback(self, row_id: int, worker_id: str) -> dict[str, Any]:
        fallback: dict[str, Any] = await self._scalar(
            q.USE_OUTBOX_WINDOW_FALLBACK, {"id": row_id, "worker_id": worker_id}
        )
        return fallback

    async def mark_dry_run(self, row_id: int, worker_id: str) -> None:
        await self._rows(q.MARK_OUTBOX_DRY_RUN, {"id": row_id, "worker_id": worker_id})

    async def release(self, ids: Sequence[int], worker_id: str, retry_after_seconds: int) -> int:
        if not ids:
            return 0
        count: int = await self._scalar(
            q.RELEASE_OUTBOX,
            {"ids": list(ids), "worker_id": worker_id, "retry_after_seconds": retry_after_seconds},
        )
        return count

    async def start_send(self, row_id: int, worker_id: str, rate_per_second: int) -> int:
        """0 when the send may go now (the row is stamped started), else milliseconds to wait."""
        # A bucket of a tenth of a second's worth of tokens refilled at the full rate:
        # the same 80/s on average, but a burst after a pause stays within rate/10,
        # so no one-second window sees much more than the rate.
        burst = max(1, rate_per_second // 10)
        wait_ms: int = await self._scalar(
            q.START_OUTBOX_SEND,
            {
                "id": row_id,
                "worker_id": worker_id,
                "max_per_window": burst,
                "per": f"{burst * 1000 / rate_per_second} milliseconds",
            },
        )
        return wait_ms

    async def breaker_allow(self, name: str) -> str:
        state: str = await self._scalar(q.BREAKER_ALLOW, {"name": name})
        return state

    async def breaker_record(self, name: str, result: SendResult) -> str:
        state: str = await self._scalar(
            q.BREAKER_RECORD,
            {
                "name": name,
                "ok": result.breaker_ok,
                "duration_ms": result.duration_ms,
                "endpoint": "/{phone_number_id}/messages",
                "error": None if result.breaker_ok else (result.error or result.outcome.value),
            },
        )
        return state


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep up to `seconds`, waking at once when stop is set."""
    if seconds > 0:
        await wait_event(stop, seconds)


class _Sender:
    def __init__(
        self,
        store: _OutboxStore,
        graph: GraphClient | None,
        config: SenderConfig,
        stop: asyncio.Event,
        worker_id: str,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.store = store
        self.graph = graph
        self.config = config
        self.stop = stop
        self.worker_id = worker_id
        self.metrics = metrics or WorkerMetrics()
        self.metrics.known_breakers([config.breaker_name])
        # Rows of the batch in hand whose send never started: if the database drops
        # mid-batch they are given back as soon as it answers again (not left to wait
        # out their lease). A started row is never in it: its outcome may be unknown,
        # and giving it back could send it twice.
        self._unstarted: list[int] = []

    async def run(self) -> None:
        log.info(
            "sender_started",
            worker_id=self.worker_id,
            dry_run=self.graph is None,
            rate_per_second=self.config.rate_per_second,
        )
        while not self.stop.is_set():
            try:
                pause = await self.cycle()
            except SenderUnavailable as exc:
                log.warning("sender_database_unavailable", worker_id=self.worker_id, error=str(exc))
                pause = self.config.error_pause_seconds
            await _wait(self.stop, pause)
        log.info("sender_stopped", worker_id=self.worker_id)

    async def cycle(self) -> float:
        """Claim and handle one batch; returns how long to pause before the next."""
        if self._unstarted:  # a batch the database dropped: its unstarted rows go back
            await self._release(self._unstarted, 0, "database back")
            self._unstarted = []
        rows = await self.store.claim(self.worker_id, self.config.batch, self.config.lock_seconds)
        if not rows:
            return self.config.idle_poll_seconds
        if self.graph is None:
            for row in rows:
                await self._guarded(row, self.store.mark_dry_run(row.id, self.worker_id))
                self.metrics.sender_results.labels("dry_run").inc()
                log.info(
                    "outbox_dry_run",
                    outbox_id=row.id,
                    to=mask_recipient(row.recipient),
                    message_type=row.body.get("type"),
                    window_open=row.window_open,
                    correlation_id=row.correlation_id,
                )
            return 0.0
        return await self._send_batch(rows, self.graph)

    async def _send_batch(self, rows: list[OutboxRow], graph: GraphClient) -> float:
        # SenderUnavailable leaves _unstarted set for the next cycle to give back
        self._unstarted = [r.id for r in rows]
        pause = await self._send_rows(rows, graph)
        self._unstarted = []
        return pause

    async def _send_rows(self, rows: list[OutboxRow], graph: GraphClient) -> float:
        send_until = time.monotonic() + self.config.send_budget_seconds
        for index, row in enumerate(rows):
            unsent = [r.id for r in rows[index:]]
            if self.stop.is_set() or time.monotonic() > send_until:
                await self._release(unsent, 0, "stopping" if self.stop.is_set() else "lease budget")
                return 0.0
            # The 24-hour window: never a free-form message outside it. The reply's own
            # outside_window template goes instead, else the row ends window_closed.
            body: dict[str, Any] | None = row.message
            if not row.window_open and not row.is_template:
                body = await self._window_fallback(
                    row, None, "24-hour customer service window closed (checked before sending)"
                )
                if body is None:
                    continue
            while body is not None:
                # from here this row may be started: only the ones after it are unstarted
                self._unstarted = [r.id for r in rows[index + 1 :]]
                try:
                    started = await self._start(row, send_until)
                except LeaseLost as exc:
                    # Our lease ended (a stall): another sender may hold the rest of the batch.
                    log.warning(
                        "outbox_lease_lost",
                        outbox_id=row.id,
                        worker_id=self.worker_id,
                        error=str(exc),
                    )
                    return 0.0
                if not started:
                    await self._release(unsent, 0, "pacing past the lease budget")
                    return 0.0
                state = await self.store.breaker_allow(self.config.breaker_name)
                self.metrics.observe_breaker(self.config.breaker_name, state)
                if state == "open":
                    wait = self.config.breaker_wait_seconds
                    await self._release(unsent, max(int(wait), 1), "breaker open")
                    return wait
                result = await graph.send(
                    row.phone_number_id, row.recipient, body, f"outbox:{row.id}"
                )
                state = await self.store.breaker_record(self.config.breaker_name, result)
                self.metrics.observe_breaker(self.config.breaker_name, state)
                code = send_result_code(result.outcome.value, result.error_code, result.http_status)
                self.metrics.sender_results.labels(code).inc()
                if result.error_code == WINDOW_CLOSED and body.get("type") != "template":
                    # the window closed between the check and the send: Meta's 131047 ends
                    # the same way (the fallback, else window_closed)
                    why = f"Meta {WINDOW_CLOSED}: {result.error or 'window closed'}"
                    body = await self._window_fallback(row, WINDOW_CLOSED, why)
                    continue
                await self._record(row, result)
                body = None
        return 0.0

    async def _window_fallback(
        self, row: OutboxRow, error_code: int | None, why: str
    ) -> dict[str, Any] | None:
        """Window closed: the row's outside_window template to send instead, or None after
        marking the row window_closed (never retried; wapipe window list shows it)."""
        fields: dict[str, Any] = {
            "outbox_id": row.id,
            "to": mask_recipient(row.recipient),
            "message_type": row.body.get("type"),
            "error_code": error_code,
            "correlation_id": row.correlation_id,
        }
        if row.has_window_fallback:
            fallback = await self._guarded(
                row, self.store.use_window_fallback(row.id, self.worker_id)
            )
            if isinstance(fallback, dict):
                log.info("outbox_window_fallback", **fields)
                return fallback
            return None  # lease lost: logged
        reason = f"{why}; the reply has no outside_window template: not sent"
        self.metrics.sender_results.labels("window_closed").inc()
        await self._guarded(
            row, self.store.mark_window_closed(row.id, self.worker_id, error_code, reason)
        )
        log.warning("outbox_window_closed", reason=reason, **fields)
        return None

    async def _start(self, row: OutboxRow, send_until: float) -> bool:
        """Wait for a send token of the business number and mark the row started; False when
        none comes in time (the row is not started)."""
        while True:
            wait_ms = await self.store.start_send(
                row.id, self.worker_id, self.config.rate_per_second
            )
            if wait_ms == 0:
                return True
            if self.stop.is_set() or time.monotonic() + wait_ms / 1000 > send_until:
                return False
            await _wait(self.stop, wait_ms / 1000)

    async def _release(self, ids: list[int], retry_after_seconds: int, reason: str) -> None:
        try:
            released = await self.store.release(ids, self.worker_id, retry_after_seconds)
        except LeaseLost as exc:
            log.warning("outbox_release_refused", worker_id=self.worker_id, error=str(exc))
            return
        log.info(
            "outbox_released", count=released, reason=reason, retry_after_s=retry_after_seconds
        )

    async def _record(self, row: OutboxRow, result: SendResult) -> None:
        fields: dict[str, Any] = {
            "outbox_id": row.id,
            "to": mask_recipient(row.recipient),
            "attempt": row.attempts,
            "duration_ms": result.duration_ms,
            "correlation_id": row.correlation_id,
        }
        if result.outcome is Outcome.SENT and result.wamid:
            await self._guarded(row, self.store.mark_sent(row.id, self.worker_id, result.wamid))
            log.info("outbox_sent", wamid=result.wamid, **fields)
        elif result.outcome is Outcome.UNKNOWN:
            settle_at = await self._guarded(
                row, self.store.mark_unknown(row.id, self.worker_id, result.error)
            )
            log.warning(
                "outbox_outcome_unknown", error=result.error, settle_after=settle_at, **fields
            )
        else:
            await self._record_failure(
                row,
                result.error_code,
                result.error or "send failed",
                retryable=result.outcome is Outcome.RETRY,
                http_status=result.http_status,
            )

    async def _record_failure(
        self,
        row: OutboxRow,
        error_code: int | None,
        error: str,
        *,
        retryable: bool,
        http_status: int | None = None,
    ) -> None:
        next_at = await self._guarded(
            row, self.store.mark_failed(row.id, self.worker_id, error_code, error, retryable)
        )
        fields: dict[str, Any] = {
            "outbox_id": row.id,
            "to": mask_recipient(row.recipient),
            "attempt": row.attempts,
            "error_code": error_code,
            "http_status": http_status,
            "error": error,
            "correlation_id": row.correlation_id,
        }
        if error_code == TOKEN_INVALID:
            log.critical(
                "graph_access_token_invalid",
                alert=True,
                hint="WHATSAPP_ACCESS_TOKEN is invalid or expired: replace it, every send fails",
                **fields,
            )
        if next_at is not None:
            log.warning("outbox_retry_scheduled", next_attempt_at=next_at, **fields)
        else:
            log.error("outbox_failed", **fields)

    async def _guarded(self, row: OutboxRow, call: Any) -> Any:
        """Await a mark_* call; a lost lease (another worker settled the row) is only logged."""
        try:
            return await call
        except LeaseLost as exc:
            log.warning(
                "outbox_lease_lost", outbox_id=row.id, worker_id=self.worker_id, error=str(exc)
            )
            return None


async def run_sender(
    pool: AsyncConnectionPool[Any],
    settings: Settings,
    stop: asyncio.Event,
    worker_id: str,
    *,
    config: SenderConfig | None = None,
    metrics: WorkerMetrics | None = None,
) -> None:
    """Send the outbox until `stop` is set (dry-run when settings.access_token is empty)."""
    config = config or settings.sender
    store = _OutboxStore(pool)
    graph = (
        GraphClient(
            settings.api_url, settings.access_token, timeout_seconds=config.http_timeout_seconds
        )
        if settings.access_token
        else None
    )
    try:
        await _Sender(store, graph, config, stop, worker_id, metrics).run()
    finally:
        if graph is not None:
            await graph.aclose()


async def _main(settings: Settings) -> None:
    worker_id = f"sender-{socket.gethostname()}-{os.getpid()}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with db.new_pool(settings.database_url, "sender", min_size=1, max_size=4) as pool:
        await run_sender(pool, settings, stop, worker_id)


def main() -> None:
    """`python -m worker.sender`: run the sender alone, until SIGINT/SIGTERM."""
    settings = load_settings()
    configure_logging("sender", settings.log)
    asyncio.run(_main(settings))


if __name__ == "__main__":
    main()
