"""The circuit breaker is shared by every worker process: proven with real connections."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg

from tests.conftest import Connect

BREAKER = "support-bot"


def _allow(conn: psycopg.Connection[Any], name: str = BREAKER) -> str:
    row = conn.execute("SELECT wapipe.breaker_allow(%(name)s)", {"name": name}).fetchone()
    assert row is not None
    return str(row[0])


def _record(conn: psycopg.Connection[Any], ok: bool, name: str = BREAKER) -> str:
    row = conn.execute(
        "SELECT wapipe.breaker_record(%(name)s, %(ok)s, 50, 'http://agent.test', %(error)s)",
        {"name": name, "ok": ok, "error": None if ok else "HTTP 503"},
    ).fetchone()
    assert row is not None
    return str(row[0])


def _open_and_age(conn: psycopg.Connection[Any], half_open_calls: int) -> None:
    """Open the breaker through its API, then move it past open_seconds."""
    conn.execute(
        "SELECT wapipe.breaker_configure(%(name)s, 'agent', half_open_calls => %(n)s)",
        {"name": BREAKER, "n": half_open_calls},
    )
    states = [_record(conn, ok=False) for _ in range(10)]
    assert states[-1] == "open"
    conn.execute(
        "UPDATE wapipe.breakers SET opened_at = opened_at - interval '121 seconds'"
        " WHERE name = %(name)s",
        {"name": BREAKER},
    )


def _hold_breaker_row(connect: Connect) -> psycopg.Connection[Any]:
    """A session holding the breaker row lock until it commits or rolls back."""
    holder = connect(autocommit=False)
    holder.execute(
        "SELECT 1 FROM wapipe.breakers WHERE name = %(name)s FOR UPDATE", {"name": BREAKER}
    )
    return holder


def _wait_for_lock_waiters(conn: psycopg.Connection[Any], count: int) -> None:
    deadline = time.monotonic() + 60  # a condition, not a duration: generous for a loaded CI
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND query LIKE '%%breaker_allow%%'"
        ).fetchone()
        if row is not None and row[0] >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"expected {count} sessions waiting on the breaker row")


def test_failures_recorded_by_one_worker_open_the_breaker_for_another(connect: Connect) -> None:
    worker_a, worker_b = connect(), connect()
    assert _allow(worker_b) == "closed"

    states = [_record(worker_a, ok=False) for _ in range(10)]

    assert states[:9] == ["closed"] * 9  # under min_calls (10)
    assert states[9] == "open"
    assert _allow(worker_b) == "open"


def test_half_open_admits_exactly_half_open_calls_concurrent_trials(connect: Connect) -> None:
    setup = connect()
    _open_and_age(setup, half_open_calls=3)
    workers = [connect() for _ in range(4)]
    # Hold the breaker row so all four callers reach the transition and queue up on
    # it: they then decide one after another on the latest row version.
    holder = _hold_breaker_row(connect)

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(_allow, conn) for conn in workers]
        _wait_for_lock_waiters(setup, 4)
        holder.commit()
        results = sorted(f.result(timeout=30) for f in futures)

    assert results == ["half_open", "half_open", "half_open", "open"]
    row = setup.execute(
        "SELECT state, half_open_in_flight FROM wapipe.breakers WHERE name = %(name)s",
        {"name": BREAKER},
    ).fetchone()
    assert row == ("half_open", 3)


def test_closed_breaker_is_not_serialised_on_its_row(connect: Connect) -> None:
    setup = connect()
    assert _allow(setup) == "closed"
    before = setup.execute(
        "SELECT xmin::text FROM wapipe.breakers WHERE name = %(name)s", {"name": BREAKER}
    ).fetchone()
    holder = _hold_breaker_row(connect)

    worker = connect()
    worker.execute("SET lock_timeout = '2s'")
    assert _allow(worker) == "closed"
    assert _record(worker, ok=True) == "closed"

    holder.rollback()
    after = setup.execute(
        "SELECT xmin::text FROM wapipe.breakers WHERE name = %(name)s", {"name": BREAKER}
    ).fetchone()
    assert after == before  # neither call wrote the breaker row
