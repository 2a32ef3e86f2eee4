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
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.common import bench_database, summary, timed
from tests.payloads import text_message, webhook

ROUNDS = 5
SINGLE_CALLS = 400  # per side per round
BATCH_CALLS = 20  # per side per round
BATCH_SIZE = 100

_counter = itertools.count()


def _fresh_payload(size: int) -> dict[str, Any]:
    messages = [
        text_message(f"25078{next(_counter) % 5000:07d}", "hello there", f"wamid.bench.{next(_counter)}")
        for _ in range(size)
    ]
    return webhook(messages)


def _compare(
    conn: psycopg.Connection[Any], size: int, calls: int
) -> tuple[list[float], list[float]]:
    ours: list[float] = []
    bare: list[float] = []
    for _ in range(ROUNDS):
        payloads = [_fresh_payload(size) for _ in range(calls)]
        it = iter(payloads)
        ours += timed(
            lambda: conn.execute(
                "SELECT * FROM wapipe.ingest_webhook(%s, 'bench')", (Jsonb(next(it)),)
            ).fetchone(),
            calls,
        )
        it = iter(payloads)
        if size == 1:
            bare += timed(
                lambda: conn.execute(
                    "SELECT pgmq.send('bench_bare', %s)", (Jsonb(next(it)),)
                ).fetchone(),
                calls,
            )
        else:
            bare += timed(
                lambda: conn.execute(
                    "SELECT count(*) FROM pgmq.send_batch('bench_bare', %s::jsonb[])",
                    ([Jsonb(m) for m in next(it)["entry"][0]["changes"][0]["value"]["messages"]],),
                ).fetchone(),
                calls,
            )
    return ours, bare


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
        _compare(conn, 1, 50)  # warm-up
        ours, bare = _compare(conn, 1, SINGLE_CALLS)
        _report("(a) 1-message POST vs pgmq.send", ours, bare, 0.7)
        ours, bare = _compare(conn, BATCH_SIZE, BATCH_CALLS)
        _report(f"(b) {BATCH_SIZE}-message POST vs pgmq.send_batch", ours, bare, 0.5)


if __name__ == "__main__":
    run()
