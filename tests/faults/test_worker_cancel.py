"""The claim loop's waits: a cancelled worker ends (no wait swallows the cancellation),
and a full worker waits for a free slot without spinning.

On Python 3.11 asyncio.wait_for returns the result instead of raising when the
cancellation arrives as the awaited event is being set; the claim loop around it
then ran on, and a cancelled worker (asyncio.run interrupted, an embedding
application shutting down) never ended. worker.aio.wait_event is the loops' wait.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

import psycopg
import pytest

from tests.fakes import MIN_WAIT_SECONDS, ingest, inprocess_agent
from tests.payloads import text_message
from worker.aio import wait_event
from worker.config import PYTHON_ENDPOINT_PREFIX, ServiceConfig, WorkerConfig
from worker.main import run_async
from worker.runner import Worker


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_a_cancel_that_meets_the_event_is_not_lost(turns: int) -> None:
    async def main() -> str:
        event = asyncio.Event()
        waiter = asyncio.create_task(wait_event(event, 10))
        for _ in range(turns):  # the waiter is inside its wait
            await asyncio.sleep(0)
        event.set()
        waiter.cancel()
        try:
            await waiter
        except asyncio.CancelledError:
            return "cancelled"
        return "swallowed"

    assert run_async(main()) == "cancelled"


def test_wait_event_answers_set_or_timed_out() -> None:
    async def main() -> tuple[bool, bool, bool]:
        event = asyncio.Event()
        timed_out = await wait_event(event, 0.01)
        asyncio.get_running_loop().call_later(0.01, event.set)
        woke = await wait_event(event, 5)
        already = await wait_event(event, 0)
        return timed_out, woke, already

    assert run_async(main()) == (False, True, True)


def _config(agent: str = "echo", concurrency: int = 8) -> WorkerConfig:
    return WorkerConfig(
        services=(
            ServiceConfig(
                name=agent,
                protocol="python",
                endpoints=(f"{PYTHON_ENDPOINT_PREFIX}tests.fakes.inprocess_agent:{agent}",),
            ),
        ),
        default_agent=agent,
        concurrency=concurrency,
        batch=concurrency,
        lock_seconds=5,  # extended every lock/3 s: slack for a loaded machine (2 s left 1.3 s)
        rate_limit_max=1_000_000,
    )


def _ingest(conn: psycopg.Connection[Any], users: range) -> None:
    ingest(conn, [text_message(f"2507{i:08d}", "hi") for i in users])


class CountingEvent(asyncio.Event):
    """The worker's wake event, counting how often the claim loop looks at it (and how
    often it is set: the notification's arrival)."""

    looks = 0
    sets = 0

    def set(self) -> None:
        self.sets += 1
        super().set()

    def is_set(self) -> bool:
        self.looks += 1
        return super().is_set()

    async def wait(self) -> Literal[True]:
        self.looks += 1
        return await super().wait()


async def _until(check: Any, what: str) -> None:
    deadline = time.monotonic() + MIN_WAIT_SECONDS
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def test_a_full_worker_waits_for_a_slot_without_spinning(
    db_url: str, conn: psycopg.Connection[Any]
) -> None:
    """New messages arriving while every slot is busy (a notification sets the wake-up)
    do not turn the claim loop into a busy loop until a slot frees up."""
    _ingest(conn, range(2))

    async def main() -> tuple[int, float, int]:
        inprocess_agent.RELEASE = release = asyncio.Event()
        worker = Worker(_config("held", concurrency=2), db_url, health_checks=False)
        worker.wake = wake = CountingEvent()
        task = asyncio.create_task(worker.run())
        try:
            # both slots busy until `release` (not for a duration a slow machine could outrun)
            await _until(lambda: len(worker.in_flight) == 2, "both slots busy")
            await _until(lambda: worker.listening, "the worker listening")
            sets = wake.sets
            await asyncio.to_thread(_ingest, conn, range(2, 5))  # notifies the worker
            await _until(lambda: wake.sets > sets, "the notification in")
            before, started = wake.looks, time.monotonic()
            # a spinning loop looks thousands of times a second, a waiting one about once per
            # poll interval (1 s). The window is measured, not assumed: a loaded machine can
            # stretch this half second, which must not turn a waiting loop's looks into a failure
            await asyncio.sleep(0.5)
            looks, window = wake.looks - before, time.monotonic() - started
            assert len(worker.in_flight) == 2, "the slots were still busy"
        finally:
            release.set()
            worker.request_stop()
            await task
        return looks, window, worker.handled

    looks, window, handled = run_async(main())
    # at most 100 looks a second (a waiting loop: about one), whatever the window's length
    assert looks < 100 * max(window, 0.5), f"the claim loop looked {looks} times in {window} s"
    assert handled >= 2


def test_a_worker_cancelled_at_any_point_ends_and_nothing_is_lost_or_answered_twice(
    db_url: str, conn: psycopg.Connection[Any]
) -> None:
    total = 400
    _ingest(conn, range(total))

    async def cancel_after(handled: int) -> float:
        worker = Worker(_config(), db_url, health_checks=False)
        task = asyncio.create_task(worker.run())
        while worker.handled < handled and not task.done():
            await asyncio.sleep(0)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, MIN_WAIT_SECONDS)  # it ends (a hang fails, late)
        assert worker.store.pool.closed
        return time.monotonic() - started

    async def finish() -> None:
        worker = Worker(_config(), db_url, health_checks=False)
        task = asyncio.create_task(worker.run())
        deadline = time.monotonic() + 4 * MIN_WAIT_SECONDS
        while time.monotonic() < deadline:
            row = await asyncio.to_thread(
                lambda: conn.execute(
                    "SELECT count(*) FROM wapipe.processed_messages WHERE status = 'done'"
                ).fetchone()
            )
            if row is not None and row[0] == total:
                break
            await asyncio.sleep(0.05)
        worker.request_stop()
        await task

    for handled in (1, 37, 150):
        run_async(cancel_after(handled))
    run_async(finish())
    row = conn.execute("SELECT count(*), count(DISTINCT source_key) FROM wapipe.outbox").fetchone()
    assert row == (total, total), "every message answered once"
