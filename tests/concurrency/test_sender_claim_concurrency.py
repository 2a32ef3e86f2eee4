"""claim_outbox under concurrency, with real sessions: SKIP LOCKED, never the same row twice."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from tests.conftest import Connect


def _queue(conn: psycopg.Connection[Any], n: int) -> list[int]:
    ids = []
    for i in range(n):
        row = conn.execute(
            "INSERT INTO wapipe.outbox (source_key, phone_number_id, to_wa_id, body)"
            " VALUES (%s, '300100200300400', %s, %s::jsonb) RETURNING id",
            (f"test:{i}", f"2507880{i:05d}", json.dumps({"type": "text", "text": {"body": "x"}})),
        ).fetchone()
        assert row is not None
        ids.append(int(row[0]))
    return ids


def test_a_locked_row_is_skipped_not_waited_for(connect: Connect) -> None:
    setup = connect()
    first, second = _queue(setup, 2)
    holder = connect(autocommit=False)
    holder.execute("SELECT id FROM wapipe.outbox WHERE id = %s FOR UPDATE", (first,))
    claimer = connect()
    claimer.execute("SET lock_timeout = '1s'")  # a wait would raise instead of hanging
    got = [r[0] for r in claimer.execute("SELECT id FROM wapipe.claim_outbox('sender-2', 10, 30)")]
    assert got == [second]
    holder.rollback()


def test_concurrent_claims_never_share_a_row(connect: Connect) -> None:
    setup = connect()
    ids = _queue(setup, 30)
    a, b = connect(autocommit=False), connect(autocommit=False)
    got_a = [r[0] for r in a.execute("SELECT id FROM wapipe.claim_outbox('sender-a', 20, 30)")]
    got_b = [r[0] for r in b.execute("SELECT id FROM wapipe.claim_outbox('sender-b', 20, 30)")]
    a.commit()
    b.commit()
    assert len(got_a) == 20 and len(got_b) == 10
    assert sorted(got_a + got_b) == ids
    holders = dict(
        setup.execute("SELECT locked_by, count(*) FROM wapipe.outbox GROUP BY 1").fetchall()
    )
    assert holders == {"sender-a": 20, "sender-b": 10}
