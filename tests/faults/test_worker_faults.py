"""Faults with real worker processes: agent timeouts to the DLQ and replay, a shared breaker
across processes with fallback and recovery, endpoint failover, SIGTERM and SIGKILL mid-call,
lock heartbeat during a slow agent call."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg

from tests.fakes import (
    WorkerProcess,
    end_open_period,
    fast_retries,
    scalar,
    send_text,
    wait_for,
    write_config,
)
from tests.fakes.agent_server import FakeAgent


def count(conn: psycopg.Connection[Any], sql: str, *params: Any) -> int:
    return int(scalar(conn, sql, *params) or 0)


def test_agent_slower_than_timeout_retries_then_dead_letters_then_replays(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    fast_retries(conn, initial=0.2, max_attempts=3)
    # far slower than the timeout (it is never reached), and a timeout a healthy call fits
    # in on a loaded machine too (the replay below answers at once; 0.4 s, then 2 s, were
    # budgets a stalled machine could overrun)
    agent.latency_s = 60
    config = write_config(
        server_tmp / "w.toml",
        [
            {
                "name": "waiter",
                "endpoints": [agent.url],
                "timeout_seconds": 10,
                "breaker": {"min_calls": 100},
            }
        ],
    )
    send_text(conn, "250788001001", "slow one")
    workers.append(WorkerProcess(db_url, config, server_tmp))
    # three attempts of 10 s each
    wait_for(lambda: count(conn, "SELECT count(*) FROM wapipe.dead_letters") == 1, 120, "DLQ")
    dead = conn.execute(
        "SELECT id, attempts, last_error, error_code, jsonb_array_length("
        "error_history) FROM wapipe.dead_letters"
    ).fetchone()
    assert dead is not None
    assert dead[1] == 3 and dead[4] == 3
    assert dead[2].startswith("agent_timeout: waiter did not answer within 10 s")
    assert dead[3] == "agent_timeout"
    assert len(agent.calls) == 3
    assert count(conn, "SELECT count(*) FROM wapipe.outbox") == 0
    # replay after the agent is fixed
    agent.latency_s = 0
    conn.execute("SELECT * FROM wapipe.requeue_dead_letters(ids => %s)", ([dead[0]],))
    wait_for(lambda: count(conn, "SELECT count(*) FROM wapipe.outbox") == 1, 20, "reply")
    assert scalar(conn, "SELECT status FROM wapipe.processed_messages") == "done"


def test_breaker_opens_for_every_worker_then_recovers(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    fast_retries(conn, initial=0.3, max_attempts=50, cap=0.3)
    agent.status = 500  # calls fail while its health check still says OK
    config = write_config(
        server_tmp / "w.toml",
        [
            {
                "name": "waiter",
                "endpoints": [agent.url],
                "breaker": {
                    "min_calls": 3,
                    "failure_rate": 0.5,
                    # open until the test moves the breaker's clock back, not for a duration:
                    # it must stay open while the first worker drains and a second one starts
                    # (3 s, then 30 s, were durations a loaded machine could outlast; a trial
                    # call let through meanwhile fails the calls_when_open check)
                    "open_seconds": 3600,
                    "half_open_calls": 1,
                    "window_seconds": 30,
                },
            }
        ],
    )
    for i in range(3):
        send_text(conn, f"25078800200{i}", "hello")
    first = WorkerProcess(db_url, config, server_tmp)
    workers.append(first)
    wait_for(
        lambda: scalar(conn, "SELECT state FROM wapipe.breakers WHERE name = 'waiter'") == "open",
        20,
        "breaker open",
    )
    # a second process sees the same open breaker: its attempts never reach the agent
    first.terminate(timeout=60)  # drains: a call the first worker had started before it opened ends
    calls_when_open = len(agent.calls)
    second = WorkerProcess(db_url, config, server_tmp)
    workers.append(second)
    send_text(conn, "250788002009", "hello too")
    wait_for(
        lambda: (
            count(
                conn,
                "SELECT count(*) FROM wapipe.processed_messages WHERE deferrals > 0"
                " AND last_error LIKE 'breaker_open:%%' AND claimed_by <> %s",
                scalar(conn, "SELECT worker_id FROM wapipe.workers WHERE stopped_at IS NOT NULL"),
            )
            > 0
        ),
        60,
        "the second worker refused by the open breaker (the message deferred)",
    )
    assert len(agent.calls) == calls_when_open
    assert count(conn, "SELECT count(*) FROM wapipe.dead_letters") == 0  # waiting, not failing
    # recovery: the agent is back, a half-open trial succeeds, the breaker closes
    agent.status = 200
    # the open period is over: a half-open trial is due (ended again at every look)
    wait_for(
        lambda: (
            end_open_period(conn, "waiter")
            or count(conn, "SELECT count(*) FROM wapipe.outbox") == 4
        ),
        120,
        "4 replies",
    )
    assert scalar(conn, "SELECT state FROM wapipe.breakers WHERE name = 'waiter'") == "closed"
    assert (
        count(
            conn,
            "SELECT count(*) FROM wapipe.processed_messages "
            "WHERE status = 'done' AND handled_by = 'waiter'",
        )
        == 4
    )


def test_fallback_reply_when_no_endpoint_is_healthy(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    agent.stop()  # nothing listens there
    config = write_config(
        server_tmp / "w.toml",
        [
            {
                "name": "waiter",
                "endpoints": [agent.url],
                "fallback": "reply",
                "fallback_text": "We'll get back to you.",
            }
        ],
    )
    workers.append(WorkerProcess(db_url, config, server_tmp))
    wait_for(
        lambda: scalar(conn, "SELECT healthy FROM wapipe.service_endpoints") is False,
        60,
        "the first health check to mark the endpoint down",
    )
    send_text(conn, "250788003001", "are you there?")
    wait_for(lambda: count(conn, "SELECT count(*) FROM wapipe.outbox") == 1, 20, "holding reply")
    assert scalar(conn, "SELECT body->'text'->>'body' FROM wapipe.outbox") == (
        "We'll get back to you."
    )
    assert conn.execute("SELECT status, handled_by FROM wapipe.processed_messages").fetchone() == (
        "done",
        "fallback:waiter",
    )
    # the question stays in the agent's memory for when it is back
    assert scalar(conn, "SELECT messages->0->>'content' FROM wapipe.ai_conversation_memory") == (
        "are you there?"
    )
    assert scalar(conn, "SELECT healthy FROM wapipe.service_endpoints") is False


def test_one_endpoint_down_moves_traffic_to_the_healthy_one(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    other = FakeAgent().start()
    try:
        config = write_config(
            server_tmp / "w.toml", [{"name": "waiter", "endpoints": [agent.url, other.url]}]
        )
        workers.append(WorkerProcess(db_url, config, server_tmp, "--concurrency", "4"))
        for i in range(20):
            send_text(conn, f"2507880040{i:02d}", "first round")
        wait_for(lambda: count(conn, "SELECT count(*) FROM wapipe.outbox") == 20, 60, "20")
        assert agent.calls and other.calls  # both endpoints served
        agent.stop()
        served_before = len(agent.calls)
        for i in range(20):
            send_text(conn, f"2507880041{i:02d}", "second round")
        wait_for(lambda: count(conn, "SELECT count(*) FROM wapipe.outbox") == 40, 60, "40")
        assert len(agent.calls) == served_before
        assert len(other.calls) >= 20
        assert (
            count(
                conn,
                "SELECT count(*) FROM wapipe.processed_messages "
                "WHERE status = 'done' AND attempts = 1",
            )
            == 40
        )  # no retries needed
        wait_for(
            lambda: (
                scalar(
                    conn,
                    "SELECT healthy FROM wapipe.service_endpoints WHERE endpoint = %s",
                    agent.url,
                )
                is False
            ),
            60,
            "recorded",
        )
    finally:
        other.stop()


def test_sigterm_mid_call_finishes_within_grace(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    agent.latency_s = 1.5
    config = write_config(server_tmp / "w.toml", [{"name": "waiter", "endpoints": [agent.url]}])
    # a grace a 1.5 s call ends well within, on a loaded machine too
    w = WorkerProcess(db_url, config, server_tmp, "--grace-seconds", "40")
    workers.append(w)
    send_text(conn, "250788005001", "hi")
    wait_for(lambda: agent.calls, 60, "the call to start")
    assert w.terminate(timeout=60) == 0
    assert count(conn, "SELECT count(*) FROM wapipe.outbox") == 1
    assert scalar(conn, "SELECT status FROM wapipe.processed_messages") == "done"


def test_sigterm_mid_call_past_grace_gives_back_then_answered_once(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    agent.latency_s = 60  # the call cannot end within the grace, however late SIGTERM lands
    config = write_config(server_tmp / "w.toml", [{"name": "waiter", "endpoints": [agent.url]}])
    w = WorkerProcess(db_url, config, server_tmp, "--grace-seconds", "0.5")
    workers.append(w)
    send_text(conn, "250788006001", "hi")
    wait_for(lambda: agent.calls, 60, "the call to start")
    assert w.terminate(timeout=60) == 0
    assert "message_given_back" in w.output()
    row = conn.execute("SELECT status, attempts FROM wapipe.processed_messages").fetchone()
    assert row == ("queued", 0)  # given back: not a failed attempt
    agent.latency_s = 0
    workers.append(WorkerProcess(db_url, config, server_tmp))
    wait_for(
        lambda: scalar(conn, "SELECT status FROM wapipe.processed_messages") == "done", 60, "done"
    )
    # a negative check: done is recorded with its reply in one transaction and the first
    # worker has exited, so nothing can add a second reply; the pause only gives a bug the
    # chance to show (it cannot turn a correct run red)
    time.sleep(1)
    assert count(conn, "SELECT count(*) FROM wapipe.outbox") == 1


def test_sigkill_mid_call_another_worker_completes_after_lock_expiry(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    # the lock is extended every lock/3 s: 6 s leaves a loaded machine 4 s of slack before a
    # live holder's claim could run out (3 s left 2 s); the call outlasts no extension
    agent.latency_s = 2.5
    config = write_config(server_tmp / "w.toml", [{"name": "waiter", "endpoints": [agent.url]}])
    doomed = WorkerProcess(db_url, config, server_tmp, "--lock-seconds", "6")
    survivor = WorkerProcess(db_url, config, server_tmp, "--lock-seconds", "6")
    workers.extend([doomed, survivor])
    wait_for(lambda: all("worker_started" in w.output() for w in workers), 60, "both workers up")
    send_text(conn, "250788007001", "hi")
    wait_for(lambda: agent.calls, 60, "the first call")
    holder = scalar(conn, "SELECT claimed_by FROM wapipe.processed_messages")
    victim = doomed if f":{doomed.proc.pid}:" in holder else survivor
    victim.kill()
    other = survivor if victim is doomed else doomed
    wait_for(
        lambda: scalar(conn, "SELECT status FROM wapipe.processed_messages") == "done",
        60,
        "done by the other worker",
    )
    assert f":{other.proc.pid}:" in scalar(conn, "SELECT claimed_by FROM wapipe.processed_messages")
    time.sleep(0.5)  # negative check (cannot turn a correct run red): no late second reply
    assert count(conn, "SELECT count(*) FROM wapipe.outbox") == 1
    assert len(agent.calls) == 2  # the killed call and the one that completed


def test_lock_heartbeat_keeps_a_slow_call_from_being_stolen(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    # over twice the 12 s lock: only heartbeats (every lock/3 s) keep the claim; 12 s leaves a
    # loaded machine 8 s of slack per extension (4 s left 2.7 s, which a stalled 2-core
    # machine could use up: the other worker then took the claim, a second call)
    agent.latency_s = 25
    config = write_config(server_tmp / "w.toml", [{"name": "waiter", "endpoints": [agent.url]}])
    workers.append(WorkerProcess(db_url, config, server_tmp, "--lock-seconds", "12"))
    workers.append(WorkerProcess(db_url, config, server_tmp, "--lock-seconds", "12"))
    wait_for(lambda: all("worker_started" in w.output() for w in workers), 60, "both workers up")
    send_text(conn, "250788008001", "think hard")
    wait_for(
        lambda: scalar(conn, "SELECT status FROM wapipe.processed_messages") == "done", 120, "done"
    )
    assert len(agent.calls) == 1
    assert scalar(conn, "SELECT attempts FROM wapipe.processed_messages") == 1
    assert count(conn, "SELECT count(*) FROM wapipe.outbox") == 1
