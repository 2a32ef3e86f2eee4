"""A burst answered once (issue 16.3), with real worker processes and the fake agent as a real
server: texts queued behind a text head are one agent turn (one call with all of them in order,
one reply keyed by the head's wamid, all completed together); with debounce texts still being
typed join; two workers with concurrent ingest never handle a message twice or skip one and keep
each user's order; a turn whose worker is SIGKILLed is answered once, whole, after the lease
expires. Counts and polls with generous deadlines; no timed assertions."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fakes import WorkerProcess, ingest, scalar, wait_for, write_config
from tests.fakes.agent_server import AgentCall, FakeAgent
from tests.payloads import text_message
from wapipe.errors import WapipeError
from worker.config import parse_config


def count(conn: psycopg.Connection[Any], sql: str, *params: Any) -> int:
    return int(scalar(conn, sql, *params) or 0)


def wamids_of(call: AgentCall) -> list[str]:
    return [str(m["id"]) for m in call.body.get("messages") or []]


def burst(user: str, texts: list[str], first_ts: int) -> list[dict[str, Any]]:
    return [text_message(user, t, timestamp=first_ts + i) for i, t in enumerate(texts)]


def claimers(conn: psycopg.Connection[Any]) -> int:
    """How many distinct workers have claimed a message so far."""
    return count(conn, "SELECT count(DISTINCT claimed_by) FROM wapipe.processed_messages")


def coalescing_config(path: Path, agent: FakeAgent, **service: Any) -> Path:
    return write_config(
        path,
        [{"name": "waiter", "endpoints": [agent.url], "coalesce_seconds": 10, **service}],
        rate_limit={"max_per_window": 100000},
    )


def test_three_queued_texts_are_one_agent_call_and_one_reply(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    user = "250788301001"
    sent = burst(user, ["hi", "I want to book", "for 2 people"], int(time.time()) - 10)
    ingest(conn, sent)
    workers.append(
        WorkerProcess(db_url, coalescing_config(server_tmp / "w.toml", agent), server_tmp)
    )
    wait_for(
        lambda: (
            count(conn, "SELECT count(*) FROM wapipe.processed_messages WHERE status = 'done'") == 3
        ),
        30,
        "the three messages done",
    )
    # a negative check (it cannot fail a correct run): the three are done, so only a bug could
    # still make a second call or reply; the pause gives it the chance to show
    time.sleep(0.5)
    assert len(agent.calls) == 1
    call = agent.calls[0]
    assert call.text == "hi\nI want to book\nfor 2 people"
    assert wamids_of(call) == [m["id"] for m in sent]
    assert call.body["message"]["id"] == sent[0]["id"]
    rows = conn.execute("SELECT source_key, body->'text'->>'body' FROM wapipe.outbox").fetchall()
    assert rows == [(sent[0]["id"], "echo: hi\nI want to book\nfor 2 people")]
    assert count(conn, "SELECT count(*) FROM pgmq.q_wapipe_inbound") == 0
    memory = scalar(
        conn,
        "SELECT messages FROM wapipe.ai_conversation_memory WHERE user_phone = %s",
        user,
    )
    assert [m["role"] for m in memory] == ["user", "assistant"]  # one turn in the memory


def test_without_coalescing_each_text_is_its_own_turn(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    ingest(conn, burst("250788301002", ["hi", "I want to book", "for 2 people"], int(time.time())))
    config = write_config(server_tmp / "w.toml", [{"name": "waiter", "endpoints": [agent.url]}])
    workers.append(WorkerProcess(db_url, config, server_tmp))
    wait_for(lambda: count(conn, "SELECT count(*) FROM wapipe.outbox") == 3, 30, "three replies")
    assert [c.text for c in agent.calls] == ["hi", "I want to book", "for 2 people"]
    assert [len(wamids_of(c)) for c in agent.calls] == [1, 1, 1]


def test_debounce_waits_for_texts_still_being_typed(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    # an hour of quiet needed: only moving the arrival times back below ends the wait (the
    # quiet period is measured in database time), so a slow machine cannot split the turn
    config = coalescing_config(
        server_tmp / "w.toml", agent, debounce_seconds=3600, debounce_max_seconds=7200
    )
    worker = WorkerProcess(db_url, config, server_tmp)
    workers.append(worker)
    wait_for(lambda: "worker_started" in worker.output(), 20, "the worker up")
    user, now = "250788301003", int(time.time())
    sent = [
        text_message(user, text, timestamp=now + i)
        for i, text in enumerate(["hi", "I want to book", "for 2 people"])
    ]
    # one webhook per text, as WhatsApp sends them: the worker claims the first alone
    ingest(conn, sent[:1])
    wait_for(
        lambda: (
            scalar(
                conn, "SELECT status FROM wapipe.processed_messages WHERE wamid = %s", sent[0]["id"]
            )
            == "processing"
        ),
        30,
        "the first text claimed",
    )
    for m in sent[1:]:
        ingest(conn, [m])
    assert agent.calls == [], "the head waits for the user to be quiet"
    conn.execute(
        "UPDATE wapipe.processed_messages SET received_at = received_at - interval '2 hours'"
        " WHERE wamid = ANY(%s)",
        ([m["id"] for m in sent],),
    )
    wait_for(lambda: count(conn, "SELECT count(*) FROM wapipe.outbox") >= 1, 30, "the reply")
    wait_for(
        lambda: (
            count(conn, "SELECT count(*) FROM wapipe.processed_messages WHERE status = 'done'") == 3
        ),
        30,
        "all three done",
    )
    assert [c.text for c in agent.calls] == ["hi\nI want to book\nfor 2 people"]
    assert count(conn, "SELECT count(*) FROM wapipe.outbox") == 1


def test_two_workers_and_concurrent_ingest_answer_every_text_once_in_order(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    agent.latency_s = 0.05
    users = [f"25078830{2000 + i}" for i in range(12)]
    per_user = 8
    start_ts = int(time.time()) - 60
    sent: dict[str, list[str]] = {u: [] for u in users}
    texts: dict[str, str] = {}

    def post(user: str, first: int, n: int) -> None:
        msgs = [
            text_message(user, f"{user} #{k}", timestamp=start_ts + k)
            for k in range(first, first + n)
        ]
        with psycopg.connect(db_url, autocommit=True) as own:
            ingest(own, msgs)
        for m in msgs:
            sent[user].append(m["id"])
            texts[m["id"]] = m["text"]["body"]

    # three texts per user in one POST each (bursts are certain), then ingest goes on from
    # two threads (each user's messages from one thread, in order) while two workers run.
    # At most 4 heads per worker at once, and the agent holds its answers until two workers
    # have claimed: the worker first to claim fills its 4 slots and can take no more, so the
    # other one claims the 12 users' first bursts' rest however the CPU is shared (a loaded
    # machine can starve one process for a while; the gate waits for it, not a duration).
    # The call timeout outlasts the gate's deadline: a held call is never retried.
    config = write_config(
        server_tmp / "w.toml",
        [
            {
                "name": "waiter",
                "endpoints": [agent.url],
                "coalesce_seconds": 10,
                "timeout_seconds": 180,
            }
        ],
        rate_limit={"max_per_window": 100000},
        worker={"concurrency": 4, "batch": 4},
    )
    workers.extend(WorkerProcess(db_url, config, server_tmp) for _ in range(2))
    wait_for(lambda: all("worker_started" in w.output() for w in workers), 60, "both workers up")
    agent.hold = threading.Event()
    try:
        for u in users:
            post(u, 0, 3)
        wait_for(lambda: claimers(conn) == 2, 60, "claims by both workers")
    finally:
        agent.hold.set()  # the answers flow, and ingest goes on while they do

    def ingest_rest(mine: list[str]) -> None:
        for first in range(3, per_user, 2):
            for u in mine:
                post(u, first, min(2, per_user - first))
            time.sleep(0.2)  # pacing: later texts arrive while earlier ones are handled

    threads = [threading.Thread(target=ingest_rest, args=(users[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = len(users) * per_user
    wait_for(
        lambda: (
            count(conn, "SELECT count(*) FROM wapipe.processed_messages WHERE status = 'done'")
            == total
        ),
        60,
        f"all {total} messages done",
    )
    time.sleep(0.5)  # a negative check: no late duplicate call (cannot fail a correct run)
    calls = list(agent.calls)
    handled = [w for c in calls for w in wamids_of(c)]
    assert sorted(handled) == sorted(w for ws in sent.values() for w in ws), (
        "every message handled exactly once (none twice, none skipped)"
    )
    for u in users:
        mine = [c for c in calls if c.user == u]
        assert [w for c in mine for w in wamids_of(c)] == sent[u], f"{u}: order kept"
        for c in mine:
            assert c.text == "\n".join(texts[w] for w in wamids_of(c))
    replies = conn.execute("SELECT source_key, count(*) FROM wapipe.outbox GROUP BY 1").fetchall()
    assert sorted(k for k, _ in replies) == sorted(wamids_of(c)[0] for c in calls)
    assert all(n == 1 for _, n in replies), "one reply per turn"
    assert len(calls) < total  # the backlog, at least, was answered in bursts
    assert count(conn, "SELECT count(*) FROM wapipe.processed_messages WHERE attempts > 1") == 0
    assert claimers(conn) == 2  # no third claimer; both took part (the gate made sure)


def test_burst_across_a_worker_sigkill_is_answered_once_after_the_lease_expires(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    agent: FakeAgent,
    workers: list[WorkerProcess],
) -> None:
    agent.latency_s = 60  # the first call lasts until its worker is killed (set to 0 then)
    config = coalescing_config(server_tmp / "w.toml", agent)
    # extended every lock/3 s: 6 s leaves a loaded machine 4 s of slack before a live
    # holder's lease could run out and the burst be claimed twice (3 s left 2 s)
    first = WorkerProcess(db_url, config, server_tmp, "--lock-seconds", "6")
    second = WorkerProcess(db_url, config, server_tmp, "--lock-seconds", "6")
    workers.extend([first, second])
    wait_for(lambda: all("worker_started" in w.output() for w in workers), 60, "both workers up")
    sent = burst("250788304001", ["hi", "I want to book", "for 2 people"], int(time.time()) - 5)
    ingest(conn, sent)
    wait_for(lambda: agent.calls, 20, "the first call")
    holder = scalar(
        conn, "SELECT claimed_by FROM wapipe.processed_messages WHERE wamid = %s", sent[0]["id"]
    )
    victim = first if f":{first.proc.pid}:" in holder else second
    other = second if victim is first else first
    victim.kill()  # mid-call: nothing recorded, the lease runs out
    agent.latency_s = 0  # the next call (the other worker's) is answered at once
    wait_for(
        lambda: (
            count(conn, "SELECT count(*) FROM wapipe.processed_messages WHERE status = 'done'") == 3
        ),
        30,
        "the burst done by the other worker",
    )
    time.sleep(0.5)  # a negative check: no late second reply (cannot fail a correct run)
    assert count(conn, "SELECT count(*) FROM wapipe.outbox") == 1
    assert scalar(conn, "SELECT source_key FROM wapipe.outbox") == sent[0]["id"]
    assert len(agent.calls) == 2  # the killed turn and the one that completed, both whole
    assert [wamids_of(c) for c in agent.calls] == [[m["id"] for m in sent]] * 2
    claimers = conn.execute("SELECT DISTINCT claimed_by FROM wapipe.processed_messages").fetchall()
    assert len(claimers) == 1 and f":{other.proc.pid}:" in claimers[0][0]


def test_config_keys_per_service_and_their_refusals() -> None:
    base = {"name": "waiter", "endpoints": ["http://127.0.0.1:1"]}
    default = parse_config({"services": [base]}).service("waiter")
    assert (default.coalesce_seconds, default.debounce_seconds) == (0.0, 0.0)  # off by default
    svc = parse_config(
        {"services": [{**base, "coalesce_seconds": 10, "debounce_seconds": 2}]}
    ).service("waiter")
    assert (svc.coalesce_seconds, svc.debounce_seconds, svc.debounce_max_seconds) == (10, 2, 10)
    for bad in ({"coalesce_seconds": -1}, {"debounce_seconds": 2}, {"debounce_max_seconds": -1}):
        with pytest.raises(WapipeError):
            parse_config({"services": [{**base, **bad}]})
