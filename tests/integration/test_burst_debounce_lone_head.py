"""Issue 16.3 under `wapipe run`: a burst typed quickly, one webhook per text, with the head
claimed before the next texts are committed, is one agent turn when the service debounces.

In-process worker, real PostgreSQL. No timed assertion: the test waits on conditions, and ends
the user's quiet period by moving the messages' arrival times back (the debounce measures
quiet in database time), never by sleeping through it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import psycopg

from tests.fakes import ingest, scalar
from tests.payloads import text_message
from worker.agents import AgentRequest
from worker.config import PYTHON_ENDPOINT_PREFIX, ServiceConfig, WorkerConfig
from worker.runner import Worker

SEEN: list[AgentRequest] = []


async def recording_agent(request: AgentRequest) -> dict[str, Any]:
    SEEN.append(request)
    return {"reply": f"seen: {request.text}"}


def _config(debounce_seconds: float) -> WorkerConfig:
    return WorkerConfig(
        services=(
            ServiceConfig(
                name="waiter",
                protocol="python",
                endpoints=(
                    f"{PYTHON_ENDPOINT_PREFIX}tests.integration.test_burst_debounce_lone_head:recording_agent",
                ),
                coalesce_seconds=10,
                debounce_seconds=debounce_seconds,
                debounce_max_seconds=2 * debounce_seconds,
            ),
        ),
        default_agent="waiter",
        poll_interval_seconds=0.2,
    )


async def _until(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_lone_head_waits_for_the_texts_typed_after_it(
    db_url: str, conn: psycopg.Connection[Any]
) -> None:
    SEEN.clear()
    user, now = "250788305001", int(time.time())
    texts = ["hi", "I want to book", "for 2 people"]
    sent = [text_message(user, t, timestamp=now) for t in texts]

    def status(wamid: str) -> Any:
        return scalar(conn, "SELECT status FROM wapipe.processed_messages WHERE wamid = %s", wamid)

    async def main() -> None:
        # an hour of quiet needed: only the test's clock move below ends the wait
        worker = Worker(_config(3600), db_url, health_checks=False)
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.to_thread(ingest, conn, sent[:1])
            await _until(lambda: status(sent[0]["id"]) == "processing", "the head claimed alone")
            for m in sent[1:]:  # one webhook each, after the head was claimed
                await asyncio.to_thread(ingest, conn, [m])
            assert SEEN == [], "the lone head waited for the user to be quiet"
            # the user has been quiet for two hours
            await asyncio.to_thread(
                conn.execute,
                "UPDATE wapipe.processed_messages"
                " SET received_at = received_at - interval '2 hours' WHERE wamid = ANY(%s)",
                ([m["id"] for m in sent],),
            )
            await _until(lambda: all(status(m["id"]) == "done" for m in sent), "all three done")
        finally:
            worker.request_stop()
            await task

    asyncio.run(main())
    assert [r.text for r in SEEN] == ["hi\nI want to book\nfor 2 people"]
    assert [m["id"] for m in SEEN[0].messages] == [m["id"] for m in sent]
    assert scalar(conn, "SELECT count(*) FROM wapipe.outbox") == 1
