"""Workers are woken on the channel they LISTEN on: ingest and requeue_dead_letters notify it.

pgmq's per-row insert trigger is disabled (migration 0014); the functions send one
NOTIFY per call instead, and only one concurrent transaction at a time sends it.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tests.conftest import Connect
from tests.payloads import text_message, webhook
from wapipe import queries

CHANNEL = "pgmq.q_wapipe_inbound.INSERT"


def _listener(connect: Connect) -> psycopg.Connection[Any]:
    listener = connect()
    listener.execute(queries.LISTEN_INBOUND)
    return listener


def _notified(listener: psycopg.Connection[Any], timeout: float = 30.0) -> list[str]:
    """Channels notified within `timeout` (it returns at the first one): the default is a
    positive wait, generous for a loaded machine; negative checks pass a short one."""
    return [n.channel for n in listener.notifies(timeout=timeout, stop_after=1)]


def _ingest(conn: psycopg.Connection[Any], wamid: str, wa_id: str = "250700000001") -> int:
    row = conn.execute(
        "SELECT new_messages FROM wapipe.ingest_webhook(%s, 'notify-test')",
        (Jsonb(webhook([text_message(wa_id, "hi", wamid)])),),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_pgmq_insert_trigger_is_off(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'pgmq.q_wapipe_inbound'::regclass"
        " AND NOT tgisinternal"
    ).fetchone()
    assert row == (0,)


def test_ingest_notifies_the_worker_channel(connect: Connect) -> None:
    listener = _listener(connect)
    conn = connect()
    assert _ingest(conn, "wamid.notify.1") == 1
    assert _notified(listener) == [CHANNEL]


def test_duplicate_ingest_does_not_notify(connect: Connect) -> None:
    conn = connect()
    _ingest(conn, "wamid.notify.dup")
    listener = _listener(connect)
    assert _ingest(conn, "wamid.notify.dup") == 0
    assert _notified(listener, timeout=0.5) == []  # negative: cannot fail a correct run


def test_nothing_is_notified_before_commit(connect: Connect) -> None:
    listener = _listener(connect)
    conn = connect(autocommit=False)
    _ingest(conn, "wamid.notify.tx")
    assert _notified(listener, timeout=0.3) == []
    conn.commit()
    assert _notified(listener) == [CHANNEL]


def test_concurrent_ingest_skips_the_notification_without_waiting(connect: Connect) -> None:
    listener = _listener(connect)
    first = connect(autocommit=False)
    _ingest(first, "wamid.notify.a", "250700000001")  # holds the wake-up lock until commit
    second = connect()
    second.execute("SET lock_timeout = '1s'")
    done = threading.Event()

    def other() -> None:
        _ingest(second, "wamid.notify.b", "250700000002")
        done.set()

    t = threading.Thread(target=other)
    t.start()
    # lock_timeout (1 s) fails an ingest that waits for the lock; the join only bounds the
    # test, generously (a loaded machine may take seconds for an ingest that does not wait)
    t.join(timeout=60)
    assert done.is_set(), "a concurrent ingest waited for the notifying transaction"
    assert _notified(listener, timeout=0.3) == []  # the second did not notify
    first.commit()
    assert _notified(listener) == [CHANNEL]


def test_requeue_dead_letters_notifies(connect: Connect) -> None:
    conn = connect()
    _ingest(conn, "wamid.notify.dead")
    row = conn.execute("SELECT msg_id FROM wapipe.get_next_queue_message('w1', 30, 1)").fetchone()
    assert row is not None
    conn.execute("SELECT wapipe.schedule_message_retry(%s, 'w1', 'boom', false)", (row[0],))
    listener = _listener(connect)
    replayed = conn.execute(
        "SELECT count(*) FROM wapipe.requeue_dead_letters(error_like => 'boom')"
    ).fetchone()
    assert replayed == (1,)
    assert _notified(listener) == [CHANNEL]
