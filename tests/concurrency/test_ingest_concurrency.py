"""ingest_webhook under concurrent delivery: each wamid is queued exactly once."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tests.conftest import Connect
from tests.payloads import text_message, webhook


def _run_concurrently(workers: int, job: Callable[[int], None]) -> None:
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def body(n: int) -> None:
        try:
            barrier.wait()
            job(n)
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _queued(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM pgmq.q_wapipe_inbound),"
        " (SELECT count(*) FROM wapipe.processed_messages)"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _misplaced_heads(conn: psycopg.Connection[Any]) -> list[Any]:
    """Conversations whose head is not their oldest message (by WhatsApp time, then id)."""
    return conn.execute(
        """
        SELECT c.conversation_key FROM wapipe.conversations c
        WHERE c.head_message_id IS DISTINCT FROM (
          SELECT m.id FROM wapipe.processed_messages m
          WHERE m.conversation_key = c.conversation_key
          ORDER BY m.wa_timestamp, m.id LIMIT 1)
        """
    ).fetchall()


def test_eight_connections_ingest_the_same_200_wamids_in_one_post(connect: Connect) -> None:
    messages = [
        text_message(f"2507000{n % 40:05d}", f"m{n}", f"wamid.same.{n}") for n in range(200)
    ]
    payload = webhook(messages)
    conns = [connect() for _ in range(8)]
    totals: list[tuple[int, int]] = []
    lock = threading.Lock()

    def ingest(n: int) -> None:
        row = conns[n].execute(
            "SELECT new_messages, duplicates FROM wapipe.ingest_webhook(%s, %s)",
            (Jsonb(payload), f"cid-{n}"),
        ).fetchone()
        assert row is not None
        with lock:
            totals.append((row[0], row[1]))

    _run_concurrently(8, ingest)
    assert sum(t[0] for t in totals) == 200
    assert sum(t[1] for t in totals) == 7 * 200
    assert _queued(conns[0]) == (200, 200)


def test_eight_connections_ingest_200_single_message_posts_in_random_orders(
    connect: Connect,
) -> None:
    payloads = [
        webhook([text_message(f"2507100{n % 25:05d}", f"m{n}", f"wamid.single.{n}")])
        for n in range(200)
    ]
    conns = [connect() for _ in range(8)]

    def ingest(n: int) -> None:
        order = list(range(200))
        random.Random(n).shuffle(order)
        for i in order:
            conns[n].execute(
                "SELECT wapipe.ingest_webhook(%s, %s)", (Jsonb(payloads[i]), f"cid-{n}-{i}")
            )

    _run_concurrently(8, ingest)
    assert _queued(conns[0]) == (200, 200)
    # every conversation points at its oldest message
    assert _misplaced_heads(conns[0]) == []


def test_four_connections_ingest_overlapping_groups_in_different_orders(connect: Connect) -> None:
    """Group commit: the same 300 POSTs, grouped and ordered differently by each of four
    connections (as four ingress processes would see Meta's re-deliveries): every wamid
    is stored and queued once, each message under exactly one event, no deadlock, and
    every conversation's head is its oldest message."""
    payloads = [
        webhook([text_message(f"2507200{n % 30:05d}", f"m{n}", f"wamid.group.{n}")])
        for n in range(300)
    ]
    conns = [connect() for _ in range(4)]
    new_total: list[int] = []
    lock = threading.Lock()

    def ingest(n: int) -> None:
        rng = random.Random(100 + n)
        # the same groups at the same time on every connection (most overlap), each
        # group in its own order per connection, and now and then regrouped
        for start in range(0, 300, 30):
            group = list(range(start, start + 30))
            rng.shuffle(group)
            parts = [group] if rng.random() < 0.7 else [group[:12], group[12:]]
            for part in parts:
                run_group(n, part)

    def run_group(n: int, group: list[int]) -> None:
        rows = conns[n].execute(
            "SELECT new_messages FROM wapipe.ingest_webhooks(%s::jsonb[], %s::text[])",
            ([Jsonb(payloads[k]) for k in group], [f"cid-{n}-{k}" for k in group]),
        ).fetchall()
        assert len(rows) == len(group)
        with lock:
            new_total.extend(int(r[0]) for r in rows)

    _run_concurrently(4, ingest)
    assert sum(new_total) == 300
    assert _queued(conns[0]) == (300, 300)
    row = conns[0].execute(
        "SELECT count(*), count(DISTINCT webhook_event_id) FROM wapipe.processed_messages"
    ).fetchone()
    assert row == (300, 300)
    assert _misplaced_heads(conns[0]) == []
