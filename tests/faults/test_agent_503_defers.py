"""An agent outage answered HTTP 503 in the middle of traffic (found by scripts/soak.py).

The shared breaker's window is then full of successes, so it does not open, and the
worker's periodic health check (30 s by default) is not due: before the fix every
message spent its three attempts on 503s within seconds and went to the dead letters.
A 503 now marks the endpoint down at once (as a refused connection does), the other
endpoint is tried, and with none left the message waits without spending an attempt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.fakes import WorkerProcess, fast_retries, scalar, send_text, wait_for, write_config
from tests.fakes.agent_server import FakeAgent


def count(conn: psycopg.Connection[Any], sql: str) -> int:
    return int(scalar(conn, sql) or 0)


def test_503_from_every_endpoint_mid_traffic_waits_instead_of_dead_lettering(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    fast_retries(conn, initial=0.2, max_attempts=3, cap=0.5)
    second = FakeAgent().start()
    try:
        config = write_config(
            server_tmp / "w.toml",
            [{"name": "waiter", "endpoints": [agent.url, second.url]}],  # default breaker
            worker={"health_interval_seconds": 30},  # the default: no check due soon
        )
        workers.append(WorkerProcess(db_url, config, server_tmp))
        for i in range(20):  # traffic before the outage: the breaker's window holds successes
            send_text(conn, f"2507885{i:05d}", "before")
        wait_for(lambda: count(conn, "SELECT count(*) FROM wapipe.outbox") == 20, 30, "warm-up")

        for fake in (agent, second):
            fake.status, fake.healthy = 503, False
        for i in range(10):
            send_text(conn, f"2507886{i:05d}", "during")
        during = "SELECT count(*) FROM wapipe.processed_messages WHERE from_wa_id LIKE '2507886%%'"
        wait_for(
            lambda: (
                count(conn, during + " AND deferrals > 0")
                + count(conn, "SELECT count(*) FROM wapipe.dead_letters")
                >= 10
            ),
            30,
            "every message of the outage deferred (or dead)",
        )
        assert count(conn, "SELECT count(*) FROM wapipe.dead_letters") == 0
        assert count(conn, during + " AND attempts > 0") == 0, "a 503 spends no attempt"

        for fake in (agent, second):
            fake.status, fake.healthy = 200, True
        # The drain's documented bound, not a guess: a deferred message comes back at the
        # next health check (health_interval_seconds, 30 s) or, had the shared breaker
        # opened, after the agent breaker's open_seconds (120 s); a margin on top. The wait
        # ends as soon as every reply is there (60 s once timed out in a fresh-clone run).
        try:
            wait_for(
                lambda: count(conn, "SELECT count(*) FROM wapipe.outbox") == 30,
                30 + 120 + 30,
                "every reply",
            )
        except AssertionError as exc:
            state = conn.execute(
                "SELECT status, deferrals, attempts, next_attempt_at - now(), waiting_for"
                " FROM wapipe.processed_messages WHERE from_wa_id LIKE '2507886%%'"
                " AND status <> 'done'"
            ).fetchall()
            breakers = conn.execute("SELECT * FROM wapipe.circuit_breaker_status").fetchall()
            raise AssertionError(f"{exc}; not done: {state}; breakers: {breakers}") from exc
        assert count(conn, "SELECT count(*) FROM wapipe.dead_letters") == 0
        assert count(conn, "SELECT count(DISTINCT source_key) FROM wapipe.outbox") == 30
    finally:
        second.stop()
