"""Successes of a closed circuit breaker, recorded in batches: the one rule for every caller.

A failure is what trips a breaker, and recording every success one by one made the
breaker's per-second bucket row the hottest lock of the worker. So a success while the
breaker is closed waits here, at most FLUSH_SECONDS, and goes to the database with the
others of its breaker and endpoint in one call (wapipe.breaker_record_successes). A
failure is recorded at once by its caller, but first `before_failure` records the
waiting successes of the same breaker: the failure rate a failure is judged by counts
every call that came before it. (Without it, failures right after a second of successes
reached the database first, were judged against a window of failures only, and could
open the breaker for every worker.)

Used by the agent registry (worker.registry) and the typing indicator
(worker.typing_indicator); the sender and the media download record each call at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

FLUSH_SECONDS = 1.0

# record(breaker, endpoint, durations_ms): writes them; handles its own errors (a lost
# batch of successes only makes the breaker a little more cautious).
Record = Callable[[str, str, list[int]], Awaitable[None]]


class SuccessBatch:
    def __init__(self, record: Record, flush_seconds: float = FLUSH_SECONDS) -> None:
        self._record = record
        self.flush_seconds = flush_seconds
        self._pending: dict[tuple[str, str], list[int]] = {}
        self._flusher: asyncio.Task[None] | None = None

    def add(self, breaker: str, endpoint: str, duration_ms: int) -> None:
        """A success while closed: recorded within flush_seconds."""
        self._pending.setdefault((breaker, endpoint), []).append(duration_ms)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_later())

    async def before_failure(self, breaker: str) -> None:
        """Record the breaker's waiting successes now: a failure follows."""
        await self.flush(breaker)

    async def flush(self, breaker: str | None = None) -> None:
        """Record the waiting successes: every breaker's, or one's."""
        if breaker is None:
            taken, self._pending = self._pending, {}
        else:
            taken = {k: v for k, v in self._pending.items() if k[0] == breaker}
            for key in taken:
                del self._pending[key]
        for (name, endpoint), durations in taken.items():
            await self._record(name, endpoint, durations)

    async def aclose(self) -> None:
        """Record what waits, now; no flush comes later."""
        if self._flusher is not None:
            self._flusher.cancel()
        await self.flush()

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.flush_seconds)
        await self.flush()
