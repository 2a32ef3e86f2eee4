"""Waiting, not failing (invariant 5), with real worker processes and fake agents.

Both agent endpoints down under load from many users: nothing is dead-lettered, every
message is answered once and in order after recovery. Down past a (low) maximum wait:
dead letters with the reason service_unavailable_too_long, replayed with `wapipe dlq
replay`. Conditions are polled with generous deadlines; no assertion is timed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from tests.fakes import WorkerProcess, fast_retries, ingest, scalar, wait_for, write_config
from tests.fakes.agent_server import FakeAgent
from tests.payloads import text_message

WAPIPE = Path(sys.executable).parent / "wapipe"


def count(conn: psycopg.Connection[Any], sql: str, *params: Any) -> int:
    return int(scalar(conn, sql, *params) or 0)


def send_burst(conn: psycopg.Connection[Any], users: list[str], per_user: int) -> None:
    """per_user messages from each user, in WhatsApp order (1 s apart), one POST per round."""
    base = int(time.time()) - per_user
    for k in range(per_user):
        ingest(conn, [text_message(u, f"{u} message {k}", timestamp=base + k) for u in users])


def user_turns(conn: psycopg.Connection[Any], user: str) -> list[str]:
    """What the agent's memory holds of a user's words, oldest first."""
    rows = conn.execute(
        "SELECT e->>'content' FROM wapipe.ai_conversation_memory m,"
        " jsonb_array_elements(m.messages) WITH ORDINALITY e(e, n)"
        " WHERE m.user_phone = %s AND e->>'role' = 'user' ORDER BY m.id, n",
        (user,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def test_agent_outage_under_load_waits_and_drains_with_no_dead_letter(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    fast_retries(conn, initial=1.0, max_attempts=3, cap=1.0)
    second = FakeAgent().start()
    try:
        config = write_config(
            server_tmp / "w.toml",
            [
                {
                    "name": "waiter",
                    "endpoints": [agent.url, second.url],
                    "breaker": {
                        "min_calls": 5,
                        "failure_rate": 0.5,
                        "open_seconds": 3,
                        "half_open_calls": 1,
                        "window_seconds": 30,
                    },
                }
            ],
        )
        workers.append(WorkerProcess(db_url, config, server_tmp))
        workers.append(WorkerProcess(db_url, config, server_tmp))
        users = [f"2507881{i:05d}" for i in range(60)]
        per_user = 4
        # the outage: both endpoints answer 503 to calls and to health checks
        for fake in (agent, second):
            fake.status, fake.healthy = 503, False
        send_burst(conn, users, per_user)
        total = len(users) * per_user
        # hold the outage long past three 1 s retries, until messages have waited twice
        outage_until = time.monotonic() + 15
        wait_for(
            lambda: (
                count(conn, "SELECT count(*) FROM wapipe.processed_messages WHERE deferrals >= 2")
                >= 20
            ),
            60,
            "messages deferred more than once",
        )
        time.sleep(max(0.0, outage_until - time.monotonic()))
        waiting = count(
            conn,
            "SELECT count(*) FROM wapipe.processed_messages"
            " WHERE status = 'queued' AND waiting_for = 'waiter'",
        )
        assert waiting > 0
        assert count(conn, "SELECT count(*) FROM wapipe.dead_letters") == 0
        # a wait is degraded, not critical (polled: a woken head is briefly not deferred)
        wait_for(
            lambda: scalar(
                conn,
                "SELECT status = 'degraded'"
                " AND (details->'deferred_by_service'->>'waiter')::int > 0"
                " FROM wapipe.system_health()",
            ),
            30,
            "system_health degraded with messages waiting for waiter",
        )

        recovered_at = scalar(conn, "SELECT clock_timestamp()")
        for fake in (agent, second):
            fake.status, fake.healthy = 200, True
        wait_for(
            lambda: (
                count(conn, "SELECT count(*) FROM wapipe.processed_messages WHERE status = 'done'")
                == total
            ),
            180,
            "every message answered after recovery",
        )
        drain = scalar(
            conn,
            "SELECT extract(epoch FROM max(processed_at) - %s) FROM wapipe.processed_messages",
            recovered_at,
        )
        print(f"\ndrain after recovery: {float(drain):.1f} s for {total} messages")

        assert count(conn, "SELECT count(*) FROM wapipe.dead_letters") == 0
        assert count(conn, "SELECT count(*) FROM wapipe.outbox") == total, "one reply each"
        assert count(conn, "SELECT count(DISTINCT source_key) FROM wapipe.outbox") == total
        assert count(conn, "SELECT max(attempts) FROM wapipe.processed_messages") <= 3
        assert count(conn, "SELECT sum(deferrals) FROM wapipe.processed_messages") > 0
        for user in users:
            assert user_turns(conn, user) == [f"{user} message {k}" for k in range(per_user)]
    finally:
        second.stop()


def test_down_past_the_maximum_wait_dead_letters_with_the_reason_then_replays(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    agent.stop()  # nothing listens: every attempt is refused before it reaches an agent
    config = write_config(
        server_tmp / "w.toml",
        [{"name": "waiter", "endpoints": [agent.url], "max_wait_seconds": 2}],
    )
    workers.append(WorkerProcess(db_url, config, server_tmp))
    send_burst(conn, ["250788201001"], 2)
    send_burst(conn, ["250788201002"], 1)
    wait_for(
        lambda: count(conn, "SELECT count(*) FROM wapipe.dead_letters") == 3,
        60,
        "three dead letters after the maximum wait",
    )
    rows = conn.execute(
        "SELECT error_code, attempts, last_error FROM wapipe.dead_letters ORDER BY id"
    ).fetchall()
    assert {r[0] for r in rows} == {"service_unavailable_too_long"}
    assert {r[1] for r in rows} == {0}, "no attempt spent: the agent was never reached"
    assert all(
        str(r[2]).startswith("service_unavailable_too_long: waiter unavailable") for r in rows
    )
    assert agent.calls == []
    # the agent is back (a health check says so); an operator replays
    agent.start()
    wait_for(
        lambda: scalar(conn, "SELECT bool_and(healthy) FROM wapipe.service_endpoints"),
        30,
        "the endpoint healthy again",
    )
    replay = subprocess.run(
        [
            str(WAPIPE),
            "dlq",
            "replay",
            "--all-matching",
            "--error-code",
            "service_unavailable_too_long",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "DATABASE_URL": db_url},
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "replayed 3 dead letter(s)" in replay.stdout
    wait_for(lambda: count(conn, "SELECT count(*) FROM wapipe.outbox") == 3, 60, "three replies")
    assert user_turns(conn, "250788201001") == [
        "250788201001 message 0",
        "250788201001 message 1",
    ]


def test_deferred_gauge_per_service_goes_back_to_zero() -> None:
    from prometheus_client import generate_latest

    from worker.metrics import WorkerMetrics

    metrics = WorkerMetrics()
    metrics.set_queue_gauges(5, 1.0, 0, ["waiter"], [], deferred={"waiter": 4, "payments": 1})
    text = generate_latest(metrics.registry).decode()
    assert 'wapipe_deferred_messages{service="waiter"} 4.0' in text
    assert 'wapipe_deferred_messages{service="payments"} 1.0' in text
    metrics.set_queue_gauges(0, None, 0, [], [], deferred={})
    text = generate_latest(metrics.registry).decode()
    assert 'wapipe_deferred_messages{service="waiter"} 0.0' in text, "no stale value kept"


def test_max_wait_seconds_per_service_in_the_config() -> None:
    import pytest

    from wapipe.errors import WapipeError
    from worker.config import parse_config

    config = parse_config(
        {"services": [{"name": "waiter", "endpoints": ["http://a"], "max_wait_seconds": 600}]}
    )
    assert config.service("waiter").max_wait_seconds == 600
    default = parse_config({"services": [{"name": "waiter", "endpoints": ["http://a"]}]})
    assert default.service("waiter").max_wait_seconds is None  # the setting's 3600 s
    with pytest.raises(WapipeError, match="max_wait_seconds must be positive"):
        parse_config(
            {"services": [{"name": "w", "endpoints": ["http://a"], "max_wait_seconds": 0}]}
        )
