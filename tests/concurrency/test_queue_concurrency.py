"""The queue life cycle under real concurrency: separate connections claiming at once.

Invariant 3 (one message at a time per conversation, in order) and invariant 4
(a worker whose lease was taken over cannot answer) proven with real sessions,
not simulated in one transaction.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.conftest import Connect
from tests.payloads import text_message, webhook

CLAIM = "SELECT msg_id, conversation_key, wamid FROM wapipe.get_next_queue_message(%s, 30, %s)"
COMPLETE = "SELECT * FROM wapipe.complete_message(%s, %s, %s)"
REPLY = Jsonb({"type": "text", "text": {"body": "ok"}})


def _ingest(conn: psycopg.Connection[Any], messages: list[dict[str, Any]]) -> None:
    conn.execute(
        "SELECT * FROM wapipe.ingest_webhook(%s::jsonb, 'cid')", (Jsonb(webhook(messages)),)
    )


def completed_out_of_order(check: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """Conversations whose completion order (DB time) differs from WhatsApp order."""
    return check.execute(
        """
        SELECT conversation_key FROM (
          SELECT conversation_key,
                 array_agg(id ORDER BY processed_at, id) AS by_done,
                 array_agg(id ORDER BY wa_timestamp, id) AS by_wa
          FROM wapipe.processed_messages GROUP BY conversation_key) x
        WHERE by_done <> by_wa
        """
    ).fetchall()


def assert_answered_once_in_order(check: psycopg.Connection[Any], messages: int) -> None:
    """One reply per message; per conversation, completion order (DB time) is WhatsApp
    order; nothing left in the queue."""
    outbox = check.execute(
        "SELECT count(*), count(DISTINCT source_key) FROM wapipe.outbox"
    ).fetchone()
    assert outbox == (messages, messages)
    assert completed_out_of_order(check) == []
    assert check.execute("SELECT count(*) FROM pgmq.q_wapipe_inbound").fetchone() == (0,)


def test_four_workers_never_share_a_message_or_a_conversation(connect: Connect) -> None:
    conversations, per_conversation = 50, 20
    base = 1_764_000_000
    messages = [
        text_message(f"2507{c:08d}", f"m{k}", wamid=f"wamid.c{c}.k{k}", timestamp=base + k)
        for c in range(conversations)
        for k in range(per_conversation)
    ]
    random.Random(7).shuffle(messages)  # arrival order differs from WhatsApp order
    _ingest(connect(), messages)

    guard = threading.Lock()
    holders: dict[str, str] = {}
    claimed: list[int] = []
    claim_order: dict[str, list[str]] = defaultdict(list)
    overlaps: list[str] = []
    errors: list[BaseException] = []

    def work(worker: str) -> None:
        conn = connect()
        try:
            idle_rounds = 0
            while idle_rounds < 3:
                rows = conn.execute(CLAIM, (worker, 5)).fetchall()
                if not rows:
                    idle_rounds += 1
                    continue
                idle_rounds = 0
                with guard:
                    for msg_id, conversation, wamid in rows:
                        if conversation in holders:
                            overlaps.append(f"{conversation}: {holders[conversation]} and {worker}")
                        holders[conversation] = worker
                        claimed.append(msg_id)
                        claim_order[conversation].append(wamid)
                for msg_id, conversation, _ in rows:
                    # released in the books before the DB lets go, so a later claim never
                    # sees a stale holder
                    with guard:
                        holders.pop(conversation, None)
                    conn.execute(COMPLETE, (msg_id, worker, REPLY))
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors
    assert not overlaps, overlaps[:5]
    assert len(claimed) == conversations * per_conversation
    assert len(set(claimed)) == len(claimed), "a message was claimed twice"
    for conversation, wamids in claim_order.items():
        ks = [int(w.rsplit(".k", 1)[1]) for w in wamids]
        assert ks == sorted(ks), f"{conversation} handled out of order: {ks}"

    check = connect()
    row = check.execute(
        "SELECT count(*) FILTER (WHERE status = 'done'), count(*) FROM wapipe.processed_messages"
    ).fetchone()
    assert row == (1000, 1000)
    assert_answered_once_in_order(check, 1000)


def test_claims_in_open_transactions_skip_each_other(connect: Connect) -> None:
    _ingest(connect(), [text_message(f"2507{c:08d}", "hi") for c in range(6)])
    first, second = connect(autocommit=False), connect(autocommit=False)
    a = first.execute(CLAIM, ("worker-a", 3)).fetchall()  # not committed: rows stay locked
    b = second.execute(CLAIM, ("worker-b", 10)).fetchall()  # must not wait for worker-a
    assert len(a) == 3 and len(b) == 3
    assert {r[1] for r in a}.isdisjoint({r[1] for r in b})
    first.commit()
    second.commit()


def test_expired_claim_taken_over_and_first_worker_refused(connect: Connect) -> None:
    _ingest(connect(), [text_message("250700000001", "hi", wamid="wamid.slow")])
    slow, fast = connect(), connect()
    (msg_id, conversation, _) = slow.execute(CLAIM, ("worker-slow", 1)).fetchone() or (0, "", "")
    assert fast.execute(CLAIM, ("worker-fast", 1)).fetchall() == []

    # the slow worker's lease runs out (time travel, no sleeping)
    fast.execute(
        "UPDATE wapipe.conversations SET locked_until = now() - interval '1 second' "
        "WHERE conversation_key = %s",
        (conversation,),
    )
    taken = fast.execute(CLAIM, ("worker-fast", 1)).fetchall()
    assert [r[0] for r in taken] == [msg_id]

    with pytest.raises(psycopg.Error) as refused:
        slow.execute(COMPLETE, (msg_id, "worker-slow", REPLY))
    assert refused.value.sqlstate == "WA001"  # lease not held (db/README.md)
    assert "does not hold the claim" in str(refused.value)

    fast.execute(COMPLETE, (msg_id, "worker-fast", REPLY))
    assert fast.execute("SELECT count(*) FROM wapipe.outbox").fetchone() == (1,)
    assert fast.execute(
        "SELECT status, attempts, claimed_by FROM wapipe.processed_messages"
    ).fetchone() == ("done", 2, "worker-fast")


COMPLETE_MANY = "SELECT ord, outcome FROM wapipe.complete_messages(%s, %s)"
# rate windows of 1000 hours: no token refills while a test runs, however slow the machine
# (at '1 minute' a gap of 0.12 s between two sessions refilled 0.01 token of five)
CONTEXTS = (
    "SELECT allowed, memory_id"
    " FROM wapipe.message_contexts(%s, 'waiter', '{waiter}', %s, '1000 hours')"
)


def _complete_batch(conn: psycopg.Connection[Any], worker: str, msg_ids: list[int]) -> list[str]:
    items = Jsonb([{"msg_id": m, "reply": REPLY.obj} for m in msg_ids])
    return [r[1] for r in conn.execute(COMPLETE_MANY, (worker, items)).fetchall()]


def test_four_workers_completing_in_batches_keep_order_and_answer_once(connect: Connect) -> None:
    conversations, per_conversation = 40, 10
    base = 1_764_000_000
    messages = [
        text_message(f"2507{c:08d}", f"m{k}", wamid=f"wamid.c{c}.k{k}", timestamp=base + k)
        for c in range(conversations)
        for k in range(per_conversation)
    ]
    random.Random(11).shuffle(messages)
    _ingest(connect(), messages)

    guard = threading.Lock()
    holders: dict[str, str] = {}
    overlaps: list[str] = []
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def work(worker: str) -> None:
        conn = connect()
        try:
            idle_rounds = 0
            while idle_rounds < 3:
                rows = conn.execute(CLAIM, (worker, 8)).fetchall()
                if not rows:
                    idle_rounds += 1
                    continue
                idle_rounds = 0
                with guard:
                    for _, conversation, _ in rows:
                        if conversation in holders:
                            overlaps.append(f"{conversation}: {holders[conversation]} and {worker}")
                        holders[conversation] = worker
                    for _, conversation, _ in rows:
                        holders.pop(conversation, None)
                done = _complete_batch(conn, worker, [r[0] for r in rows])
                with guard:
                    outcomes.extend(done)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors
    assert not overlaps, overlaps[:5]
    assert outcomes == ["done"] * (conversations * per_conversation)

    check = connect()
    assert_answered_once_in_order(check, 400)


def test_batch_completions_and_concurrent_ingest_of_the_same_conversations(
    connect: Connect,
) -> None:
    """Both lock conversations in key order: no deadlock; every message answered once, in order."""
    users = [f"2507{c:08d}" for c in range(12)]
    rounds = 15
    base = 1_764_000_000
    stop = threading.Event()
    errors: list[BaseException] = []

    def ingest_rounds() -> None:
        conn = connect()
        try:
            for k in range(rounds):
                batch = [text_message(u, f"m{k}", f"wamid.{u}.{k}", base + k) for u in users]
                random.Random(k).shuffle(batch)  # one POST touching every conversation
                _ingest(conn, batch)
        except BaseException as exc:
            errors.append(exc)

    def work(worker: str) -> None:
        conn = connect()
        try:
            while not stop.is_set():
                rows = conn.execute(CLAIM, (worker, 6)).fetchall()
                if rows:
                    _complete_batch(conn, worker, [r[0] for r in rows])
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(2)]
    ingester = threading.Thread(target=ingest_rounds)
    for t in [*workers, ingester]:
        t.start()
    ingester.join(timeout=120)
    check = connect()
    for _ in range(600):
        row = check.execute(
            "SELECT count(*) FILTER (WHERE status = 'done') FROM wapipe.processed_messages"
        ).fetchone()
        if row == (len(users) * rounds,) or errors:
            break
        threading.Event().wait(0.05)
    stop.set()
    for t in workers:
        t.join(timeout=60)
    assert not errors, errors
    assert check.execute(
        "SELECT count(*), count(DISTINCT source_key) FROM wapipe.outbox"
    ).fetchone() == (len(users) * rounds, len(users) * rounds)
    assert completed_out_of_order(check) == []


def _two_waiting_callers(
    connect: Connect,
    holder: psycopg.Connection[Any],
    call: str,
    params: tuple[Any, ...],
    marker: str = "message_contexts",
) -> list[tuple[Any, ...]]:
    """Two sessions run `call` (its text holds `marker`) while `holder` holds a lock both
    need; then it commits."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        sessions = [connect(), connect()]
        futures = [pool.submit(lambda c=c: c.execute(call, params).fetchone()) for c in sessions]
        watch = connect()
        for _ in range(500):
            row = watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE '%%' || %s || '%%'",
                (marker,),
            ).fetchone()
            if row is not None and row[0] >= 2:
                break
            threading.Event().wait(0.02)
        else:
            raise AssertionError("the two callers never waited on the lock")
        holder.commit()
        return [f.result(timeout=30) for f in futures]


def test_concurrent_contexts_spend_a_token_once(connect: Connect) -> None:
    setup = connect()
    setup.execute("SELECT wapipe.check_rate_limit('user:250700000001', 2, '1000 hours')")  # 1 left
    holder = connect(autocommit=False)
    holder.execute(
        "SELECT 1 FROM wapipe.rate_limit_buckets WHERE key = 'user:250700000001' FOR UPDATE"
    )
    items = Jsonb([{"user_phone": "250700000001", "rate_key": "user:250700000001"}])
    results = _two_waiting_callers(connect, holder, CONTEXTS, (items, 2))
    assert sorted(r[0] for r in results) == [False, True]


def test_concurrent_contexts_of_a_new_user_share_one_session(connect: Connect) -> None:
    holder = connect(autocommit=False)
    holder.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended("
        "'wapipe.memory' || chr(31) || '250700000001' || chr(31) || 'waiter', 0))"
    )
    items = Jsonb([{"user_phone": "250700000001"}])
    results = _two_waiting_callers(connect, holder, CONTEXTS, (items, None))
    assert results[0][1] is not None and results[0][1] == results[1][1]
    row = connect().execute("SELECT count(*) FROM wapipe.ai_conversation_memory").fetchone()
    assert row == (1,)


def test_two_claims_of_one_users_messages_share_a_session_and_spend_two_tokens(
    connect: Connect,
) -> None:
    """A user writing to two business numbers: two conversations, claimed at the same time in
    two sessions (claim_messages), whose context steps meet on the user's memory lock."""
    setup = connect()
    for number in ("300100200300400", "300100200300401"):
        setup.execute(
            "SELECT wapipe.ingest_webhook(%s, 'cid')",
            (Jsonb(webhook([text_message("250700000001", "hi")], phone_number_id=number)),),
        )
    holder = connect(autocommit=False)
    holder.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended("
        "'wapipe.memory' || chr(31) || '250700000001' || chr(31) || 'waiter', 0))"
    )
    call = (
        "SELECT conversation_key, memory_id, allowed"
        " FROM wapipe.claim_messages(%s, 30, 1, 'waiter', '{waiter}', '[]', 5, '1000 hours')"
    )
    results = _two_waiting_callers(connect, holder, call, ("worker-1",), marker="claim_messages")
    assert all(r is not None for r in results)
    conversations = {r[0] for r in results if r is not None}
    assert len(conversations) == 2, "each session claimed its own conversation"
    assert len({r[1] for r in results if r is not None}) == 1, "one memory session for both"
    assert all(r[2] for r in results if r is not None)
    row = (
        connect()
        .execute("SELECT tokens FROM wapipe.rate_limit_buckets WHERE key = 'user:250700000001'")
        .fetchone()
    )
    assert row is not None and abs(row[0] - 3) < 0.01, "two tokens of five spent"
