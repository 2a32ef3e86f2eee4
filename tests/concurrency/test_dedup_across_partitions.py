"""Invariant 2 with two real sessions, across processed_messages' weekly partitions.

The dedup is wapipe.message_wamids (unpartitioned, keyed by wamid; db/schema/0029):
a second session delivering the same wamid while the first has not committed waits
on that key and then counts a duplicate, whether the first delivery is new or its
message sits in last week's partition.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tests.conftest import Connect
from tests.payloads import text_message, webhook

WAIT_SECONDS = 60.0  # a generous bound for a condition, never a duration the test relies on

AGE_BY_DAYS = """
WITH old AS (SELECT m.id FROM wapipe.processed_messages m WHERE m.wamid = %(wamid)s),
moved AS (
  UPDATE wapipe.processed_messages m
     SET id = (((o.id >> 36) - %(days)s) << 36) | (o.id & ((1::bigint << 36) - 1)),
         received_at = m.received_at - make_interval(days => %(days)s)
    FROM old o WHERE m.id = o.id
  RETURNING m.id, m.wamid)
UPDATE wapipe.message_wamids w SET message_id = mv.id FROM moved mv WHERE w.wamid = mv.wamid
"""


def _ingest(conn: psycopg.Connection[Any], payload: dict[str, Any]) -> tuple[int, int]:
    row = conn.execute(
        "SELECT new_messages, duplicates FROM wapipe.ingest_webhook(%s, 'c')", (Jsonb(payload),)
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _second_session_waits_then_counts(
    connect: Connect, payload: dict[str, Any]
) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """Session A ingests in an open transaction; session B ingests the same POST and must
    wait for A (polled in pg_stat_activity, no sleep relied on); A commits."""
    first, second, watcher = connect(autocommit=False), connect(), connect()
    got: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    a = _ingest(first, payload)
    b_pid = second.info.backend_pid

    def deliver() -> None:
        try:
            got.append(_ingest(second, payload))
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    thread = threading.Thread(target=deliver)
    thread.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        row = watcher.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (b_pid,)
        ).fetchone()
        if row is not None and row[0] == "Lock":
            break
        assert not got and not errors, "the second session did not wait for the first"
        assert time.monotonic() < deadline, "the second session never waited on the first"
        time.sleep(0.01)
    first.commit()
    thread.join(WAIT_SECONDS)
    if errors:
        raise errors[0]
    return a, got


def test_a_concurrent_second_delivery_waits_and_is_a_duplicate(connect: Connect) -> None:
    payload = webhook([text_message("250700000001", "hi", "wamid.concurrent.new")])
    a, got = _second_session_waits_then_counts(connect, payload)
    assert a == (1, 0)
    assert got == [(0, 1)]
    conn = connect()
    assert conn.execute(
        "SELECT count(*) FROM wapipe.processed_messages WHERE wamid = 'wamid.concurrent.new'"
    ).fetchone() == (1,)


def test_a_redelivery_of_last_weeks_message_in_two_sessions_is_a_duplicate(
    connect: Connect,
) -> None:
    conn = connect()
    first = webhook([text_message("250700000002", "old", "wamid.concurrent.old")])
    assert _ingest(conn, first) == (1, 0)
    conn.execute(AGE_BY_DAYS, {"wamid": "wamid.concurrent.old", "days": 7})
    conn.execute("SELECT wapipe.maintain_partitions()")
    where = conn.execute(
        "SELECT tableoid::regclass::text = 'wapipe.processed_messages_w'"
        " || to_char(date_trunc('week', (now() - interval '7 days') AT TIME ZONE 'UTC'),"
        " 'YYYY_MM_DD') FROM wapipe.processed_messages WHERE wamid = 'wamid.concurrent.old'"
    ).fetchone()
    assert where == (True,)

    # the same old wamid beside a new one, in two sessions at once
    again = webhook(
        [
            text_message("250700000002", "old", "wamid.concurrent.old"),
            text_message("250700000002", "next", "wamid.concurrent.next"),
        ]
    )
    a, got = _second_session_waits_then_counts(connect, again)
    assert a == (1, 1)
    assert got == [(0, 2)]
    assert conn.execute(
        "SELECT count(*) FROM wapipe.processed_messages"
        " WHERE wamid IN ('wamid.concurrent.old', 'wamid.concurrent.next')"
    ).fetchone() == (2,)
