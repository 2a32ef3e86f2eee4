"""admit_typing_indicator's reservoir refills under concurrency: workers taking several
tokens at once and senders taking one (start_outbox_send's check_rate_limit) share a
number's send bucket exactly: together they never get more tokens than it holds."""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from tests.concurrency.test_rate_limit_concurrency import _run_concurrently
from tests.conftest import Connect

CAPACITY = 50
KEY_NUMBER = "300100200300400"


def test_refills_and_sends_never_share_a_token(connect: Connect) -> None:
    conns = [connect() for _ in range(8)]
    granted: list[int] = []
    lock = threading.Lock()

    def refill(conn: psycopg.Connection[Any]) -> None:
        for _ in range(10):
            row = conn.execute(
                "SELECT verdict, granted FROM wapipe.admit_typing_indicator("
                "%s, 'whatsapp-graph', %s, '1000 hours'::interval, 3)",
                (KEY_NUMBER, CAPACITY),
            ).fetchone()
            assert row is not None
            assert (row[0] == "go") == (row[1] > 0)
            with lock:
                granted.append(int(row[1]))

    def send(conn: psycopg.Connection[Any]) -> None:
        for _ in range(20):
            row = conn.execute(
                "SELECT allowed FROM wapipe.check_rate_limit(%s, %s, '1000 hours'::interval)",
                (f"send:{KEY_NUMBER}", CAPACITY),
            ).fetchone()
            assert row is not None
            with lock:
                granted.append(1 if row[0] else 0)

    def job(conn: psycopg.Connection[Any]) -> None:
        (refill if conns.index(conn) % 2 == 0 else send)(conn)

    _run_concurrently(conns, job)

    assert len(granted) == 4 * 10 + 4 * 20
    # one token per 20 h at 50 per 1000 h: however slow the machine, none refills
    assert sum(granted) == CAPACITY
    assert all(0 <= g <= 3 for g in granted)
