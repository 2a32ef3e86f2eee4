"""The next claim overlaps the previous messages' completion.

A handled message hands its slot over as soon as only the recording of its outcome
remains: the worker claims and handles the next messages while complete_messages
commits. At most `concurrency` more messages wait for their recording, so a
database that cannot keep up slows the claims down instead of piling up leases.

The completion of one message is held up by a test transaction that has inserted,
without committing, an outbox row with the reply's key (complete_messages' insert
waits for it); the claims are not touched by that lock.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from tests.conftest import Connect
from tests.fakes import MIN_WAIT_SECONDS, ingest, inprocess_agent
from tests.payloads import text_message
from worker.config import PYTHON_ENDPOINT_PREFIX, ServiceConfig, WorkerConfig
from worker.main import run_async
from worker.runner import Worker

ALICE, BOB, CAROL = "250788000001", "250788000002", "250788000003"


def _config() -> WorkerConfig:
    return WorkerConfig(
        services=(
            ServiceConfig(
                name="recorder",
                protocol="python",
                endpoints=(f"{PYTHON_ENDPOINT_PREFIX}tests.fakes.inprocess_agent:recorder",),
            ),
        ),
        default_agent="recorder",
        concurrency=1,
        batch=1,
        poll_interval_seconds=0.1,
        rate_limit_max=1_000,
    )


def _status(conn: psycopg.Connection[Any], user: str) -> str:
    row = conn.execute(
        "SELECT status FROM wapipe.processed_messages WHERE from_wa_id = %s", (user,)
    ).fetchone()
    assert row is not None
    return str(row[0])


async def _until(check: Any, seconds: float = MIN_WAIT_SECONDS) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if check():
            return True
        await asyncio.sleep(0.02)
    return bool(check())


class SeenEvent(asyncio.Event):
    """The worker's wake event, counting sets (a notification arrived) and clears (the
    claim loop looked at the wake-up and decided)."""

    sets = 0
    clears = 0

    def set(self) -> None:
        self.sets += 1
        super().set()

    def clear(self) -> None:
        self.clears += 1
        super().clear()


def _completion_waits(conn: psycopg.Connection[Any]) -> bool:
    """A session of this database waits on a lock in complete_messages (the blocker's row)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND query LIKE '%%complete_message%%'"
    ).fetchone()
    return row is not None and row[0] > 0


def test_the_next_message_is_handled_while_the_last_one_commits(
    db_url: str, conn: psycopg.Connection[Any], connect: Connect
) -> None:
    inprocess_agent.CALLS.clear()
    ingest(conn, [text_message(ALICE, "first")])
    wamid = conn.execute(
        "SELECT wamid FROM wapipe.processed_messages WHERE from_wa_id = %s", (ALICE,)
    ).fetchone()
    assert wamid is not None
    blocker = connect(autocommit=False)  # holds up Alice's completion until it rolls back
    blocker.execute(
        "INSERT INTO wapipe.outbox (source_key, seq, phone_number_id, to_wa_id, body)"
        " VALUES (%s, 0, 'x', 'x', '{}')",
        (wamid[0],),
    )

    async def main() -> tuple[str, list[str], str, str]:
        worker = Worker(_config(), db_url, health_checks=False)
        worker.wake = wake = SeenEvent()
        task = asyncio.create_task(worker.run())
        watcher = connect()
        try:
            assert await _until(lambda: ALICE in inprocess_agent.CALLS), "Alice never handled"
            assert await _until(lambda: _completion_waits(watcher)), (
                "Alice's completion never waited for the blocker"
            )
            await asyncio.to_thread(ingest, conn, [text_message(BOB, "second")])
            # concurrency 1, and yet Bob is handled while Alice's reply commits
            bob_handled = await _until(lambda: BOB in inprocess_agent.CALLS)
            alice_then = await asyncio.to_thread(_status, conn, ALICE)
            assert bob_handled, "Bob waited for Alice's completion: no overlap"
            # two held (one committing, one waiting for its turn) = 2 x concurrency:
            # Carol is not claimed until a recording is done
            assert await _until(lambda: worker.listening), "the worker never listened"
            sets, clears = wake.sets, wake.clears
            await asyncio.to_thread(ingest, conn, [text_message(CAROL, "third")])
            # a negative check: first the claim loop has seen Carol's notification and decided
            # (a wake-up, then a clear), then a few more poll intervals (0.1 s) for a wrong
            # claim to show; a slow machine can only hide a bug here, never fail a good run
            assert await _until(lambda: wake.sets > sets and wake.clears > clears), (
                "the claim loop never looked at Carol's notification"
            )
            await asyncio.sleep(0.6)
            calls_while_full = list(inprocess_agent.CALLS)
            carol_then = await asyncio.to_thread(_status, conn, CAROL)
            await asyncio.to_thread(blocker.rollback)
            assert await _until(lambda: worker.handled == 3), "not every message finished"
            carol_now = await asyncio.to_thread(_status, conn, CAROL)
            return alice_then, calls_while_full, carol_then, carol_now
        finally:
            await asyncio.to_thread(blocker.rollback)  # also when an assertion failed
            worker.request_stop()
            await task

    alice_then, calls_while_full, carol_then, carol_now = run_async(main())
    assert alice_then == "processing"
    assert calls_while_full == [ALICE, BOB]
    assert carol_then == "queued"
    assert carol_now == "done"
    rows = conn.execute(
        "SELECT to_wa_id, count(*) FROM wapipe.outbox GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert rows == [(ALICE, 1), (BOB, 1), (CAROL, 1)], "every message answered once"
