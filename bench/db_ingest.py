"""ingest_webhook vs bare pgmq.send / pgmq.send_batch, one call per transaction.

(a) a 1-message payload through ingest_webhook vs pgmq.send of the same
    payload: goal >= 0.7x the throughput;
(b) a 100-message payload vs pgmq.send_batch of the same 100 messages:
    goal >= 0.5x.
Rounds alternate between the two sides so drift hits both alike. On a shared 2-core
VM a round now and then runs several times slower on either side (another process's
burst, a checkpoint's fsync), and a ratio of means over the whole run follows those
rounds: the goals are checked on the median of the rounds' ratios (as bench.ingress
does), many short rounds; the ratio of the means is printed beside it.
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

ROUNDS = 20
SINGLE_CALLS = 100  # per side per round
BATCH_CALLS = 5  # per side per round
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
    conn: psycopg.Connection[Any], size: int, calls: int, rounds: int = ROUNDS
) -> tuple[list[list[float]], list[list[float]]]:
    """Per round, the seconds of each call of ours and of the bare side."""
    ours: list[list[float]] = []
    bare: list[list[float]] = []
    for n in range(rounds):
        payloads = [_fresh_payload(size) for _ in range(calls)]
        sides = [("ours", ours), ("bare", bare)]
        for side, samples in sides if n % 2 == 0 else sides[::-1]:
            if side == "ours":
                samples.append(_timed_calls(conn, INGEST, [(Jsonb(p),) for p in payloads]))
            elif size == 1:
                samples.append(_timed_calls(conn, SEND, [(Jsonb(p),) for p in payloads]))
            else:
                samples.append(
                    _timed_calls(
                        conn, SEND_BATCH, [([Jsonb(m) for m in _messages(p)],) for p in payloads]
                    )
                )
    return ours, bare


def _messages(payload: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = payload["entry"][0]["changes"][0]["value"]["messages"]
    return messages


def _report(label: str, ours: list[list[float]], bare: list[list[float]], goal: float) -> None:
    every_ours = [s for r in ours for s in r]
    every_bare = [s for r in bare for s in r]
    of_means = statistics.fmean(every_bare) / statistics.fmean(every_ours)
    rounds = sorted(sum(b) / sum(o) for o, b in zip(ours, bare, strict=True))
    ratio = statistics.median(rounds)
    print(f"  wapipe.ingest_webhook : {summary(every_ours)}")
    print(f"  bare pgmq             : {summary(every_bare)}")
    verdict = "meets" if ratio >= goal else "BELOW"
    print(
        f"  {label}: throughput ratio wapipe/bare = {ratio:.2f}x, median of {len(rounds)} rounds "
        f"(quartiles {rounds[len(rounds) // 4]:.2f}-{rounds[3 * len(rounds) // 4]:.2f}; "
        f"ratio of the means {of_means:.2f}x) (goal >= {goal}x: {verdict})"
    )


def run() -> None:
    print("== db_ingest: ingest_webhook vs bare pgmq (same database, one call per transaction)")
    with bench_database() as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pgmq.create('bench_bare')")
        # Warm-up, then analyse, as autovacuum does in a running system: plans the
        # functions cache on empty tables would otherwise outlive the table's growth.
        _compare(conn, 1, 50, rounds=5)
        _compare(conn, BATCH_SIZE, 4, rounds=5)
        conn.execute("ANALYZE")
        ours, bare = _compare(conn, 1, SINGLE_CALLS)
        _report("(a) 1-message POST vs pgmq.send", ours, bare, 0.7)
        ours, bare = _compare(conn, BATCH_SIZE, BATCH_CALLS)
        _report(f"(b) {BATCH_SIZE}-message POST vs pgmq.send_batch", ours, bare, 0.5)


if __name__ == "__main__":
    run()
