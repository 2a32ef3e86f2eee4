"""The worker end to end on a real database with a fake agent: reply once, memory, rate limit,
routing, logs without phone numbers or bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.fakes import WorkerProcess, scalar, send_text, wait_for, write_config
from tests.fakes.agent_server import FakeAgent


def test_text_message_gets_one_reply_and_memory(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    config = write_config(server_tmp / "w.toml", [{"name": "waiter", "endpoints": [agent.url]}])
    users = [f"25078800{i:04d}" for i in range(3)]
    for u in users:
        send_text(conn, u, f"secret body of {u}")
    w = WorkerProcess(db_url, config, server_tmp, "--concurrency", "4")
    workers.append(w)
    wait_for(lambda: scalar(conn, "SELECT count(*) FROM wapipe.outbox") == 3, what="3 replies")
    rows = conn.execute("SELECT to_wa_id, body FROM wapipe.outbox ORDER BY to_wa_id").fetchall()
    assert [r[0] for r in rows] == users
    assert all(
        r[1] == {"type": "text", "text": {"body": f"echo: secret body of {r[0]}"}} for r in rows
    )
    assert (
        scalar(
            conn,
            "SELECT count(*) FROM wapipe.processed_messages "
            "WHERE status = 'done' AND handled_by = 'waiter'",
        )
        == 3
    )
    assert scalar(conn, "SELECT count(*) FROM pgmq.q_wapipe_inbound") == 0
    memory = conn.execute(
        "SELECT messages, context FROM wapipe.ai_conversation_memory "
        "WHERE user_phone = %s AND agent_type = 'waiter'",
        (users[0],),
    ).fetchone()
    assert memory is not None
    assert [m["role"] for m in memory[0]] == ["user", "assistant"]
    assert memory[1] == {"seen": 0}
    # a second message from the same user: the agent sees the history
    send_text(conn, users[0], "again")
    wait_for(lambda: scalar(conn, "SELECT count(*) FROM wapipe.outbox") == 4, what="4th reply")
    assert (
        scalar(
            conn,
            "SELECT context->>'seen' FROM wapipe.ai_conversation_memory WHERE user_phone = %s",
            users[0],
        )
        == "2"
    )
    assert len(agent.calls) == 4
    assert scalar(conn, "SELECT count(*) FROM wapipe.workers WHERE stopped_at IS NULL") == 1
    assert w.terminate() == 0
    assert scalar(conn, "SELECT count(*) FROM wapipe.workers WHERE stopped_at IS NOT NULL") == 1
    log = w.output()
    assert '"message_handled"' in log
    for u in users:  # invariant 7
        assert u not in log
        assert "secret body" not in log


def test_rate_limit_one_notice_per_window_and_no_agent_call(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    config = write_config(
        server_tmp / "w.toml",
        [{"name": "waiter", "endpoints": [agent.url]}],
        rate_limit={"max_per_window": 3, "per": "1 hour", "notice": "Please slow down."},
    )
    user = "250788009999"
    for i in range(7):
        send_text(conn, user, f"m{i}", ts=1_700_000_000 + i)
    workers.append(WorkerProcess(db_url, config, server_tmp))
    wait_for(
        lambda: (
            scalar(conn, "SELECT count(*) FROM wapipe.processed_messages WHERE status = 'done'")
            == 7
        ),
        what="7 done",
    )
    assert [c.text for c in agent.calls] == ["m0", "m1", "m2"]
    handled = conn.execute(
        "SELECT handled_by, count(*) FROM wapipe.processed_messages GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert handled == [("rate_limited", 4), ("waiter", 3)]
    notices = scalar(
        conn, "SELECT count(*) FROM wapipe.outbox WHERE body->'text'->>'body' = 'Please slow down.'"
    )
    assert notices == 1
    assert scalar(conn, "SELECT count(*) FROM wapipe.outbox") == 4


def test_keyword_rule_routes_and_agent_sticks(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    billing = FakeAgent().start()
    try:
        config = write_config(
            server_tmp / "w.toml",
            [
                {"name": "waiter", "endpoints": [agent.url]},
                {"name": "billing", "endpoints": [billing.url]},
            ],
            routing={
                "default_agent": "waiter",
                "rules": [{"keywords": ["refund", "invoice"], "agent": "billing"}],
            },
        )
        user = "250788007777"
        send_text(conn, user, "hello", ts=1_700_000_000)
        send_text(conn, user, "I need a refund", ts=1_700_000_001)
        send_text(conn, user, "it was yesterday", ts=1_700_000_002)
        workers.append(WorkerProcess(db_url, config, server_tmp))
        wait_for(lambda: scalar(conn, "SELECT count(*) FROM wapipe.outbox") == 3, what="3 replies")
        assert [c.text for c in agent.calls] == ["hello"]
        assert [c.text for c in billing.calls] == ["I need a refund", "it was yesterday"]
    finally:
        billing.stop()
