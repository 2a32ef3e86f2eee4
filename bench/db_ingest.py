"""ingest_webhook vs bare pgmq.send / pgmq.send_batch, one call per transaction.

(a) a 1-message payload through ingest_webhook vs pgmq.send of the same
    payload: goal >= 0.7x the throughput;
(b) a 100-message payload vs pgmq.send_batch of the same 100 messages:
    goal >= 0.5x.
Rounds alternate between the two sides so drift hits both alike.
"""

from __future__ import annotations

import itertools
import statistics
import time
from typing import Any, LiteralString

import psycopg
from psycopg.types.json import Jsonb

from bench.common import bench_database, summary
from tests.payloads import text_message, webhook

ROUNDS = 5
SINGLE_CALLS = 400  # per side per round
BATCH_CALLS = 20  # per side per round
BATCH_SIZE = 100

_counter = itertools.count()

INGEST: LiteralString = "SELECT * FROM wapipe.ingest_webhook(%s, 'bench')"
SEND: LiteralString = "SELECT pgmq.send('bench_bare', %s)"
SEND_BATCH: LiteralString = "SELECT count(*) FROM pgmq.send_batch('bench_bare', %s::jsonb[])"


def _fresh_payload(size: int) -> dict[str, Any]:
    messages = [
        text_message(
            f"25078{next(_counter) % 5000:07d}", "hello there", f"wamid.bench.{next(_counter)}"
        )
        for _ in range(size)
    ]
    return webhook(messages)


def _timed_calls(
    conn: psycopg.Connection[Any], sql: LiteralString, params: list[tuple[Any, ...]]
) -> list[float]:
    """Seconds taken by each call of sql, one per params tuple (one transaction each)."""
    samples = []
    for args in params:
        started = time.perf_counter()
        conn.execute(sql, args).fetchone()
        samples.append(time.perf_counter() - started)
    return samples


def _compare(
    conn: psycopg.Connection[Any], size: int, calls: int
) -> tuple[list[float], list[float]]:
    ours: list[float] = []
    bare: list[float] = []
    for _ in range(ROUNDS):
        payloads = [_fresh_payload(size) for _ in range(calls)]
        ours += _timed_calls(conn, INGEST, [(Jsonb(p),) for p in payloads])
        if size == 1:
            bare += _timed_calls(conn, SEND, [(Jsonb(p),) for p in payloads])
        else:
            bare += _timed_calls(
                conn, SEND_BATCH, [([Jsonb(m) for m in _messages(p)],) for p in payloads]
            )
    return ours, bare


def _messages(payload: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = payload["entry"][0]["changes"][0]["value"]["messages"]
    return messages


def _report(label: str, ours: list[float], bare: list[float], goal: float) -> None:
    ratio = statistics.fmean(bare) / statistics.fmean(ours)
    print(f"  wapipe.ingest_webhook : {summary(ours)}")
    print(f"  bare pgmq             : {summary(bare)}")
    verdict = "meets" if ratio >= goal else "BELOW"
    print(f"  {label}: throughput ratio wapipe/bare = {ratio:.2f}x (goal >= {goal}x: {verdict})")


def run() -> None:
    print("== db_ingest: ingest_webhook vs bare pgmq (same database, one call per transaction)")
    with bench_database() as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pgmq.create('bench_bare')")
        # Warm-up, then analyse, as autovacuum does in a running system: plans the
        # functions cache on empty tables would otherwise outlive the table's growth.
        _compare(conn, 1, 50)
        _compare(conn, BATCH_SIZE, 4)
        conn.execute("ANALYZE")
        ours, bare = _compare(conn, 1, SINGLE_CALLS)
        _report("(a) 1-message POST vs pgmq.send", ours, bare, 0.7)
        ours, bare = _compare(conn, BATCH_SIZE, BATCH_CALLS)
        _report(f"(b) {BATCH_SIZE}-message POST vs pgmq.send_batch", ours, bare, 0.5)


if __name__ == "__main__":
    run()
