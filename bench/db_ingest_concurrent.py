"""ingest_webhook under concurrency, and its WAL volume, vs bare pgmq.send.

(a) WAL bytes per 1-message ingest_webhook vs per pgmq.send of the same payload
    (pg_walinspect over a run of sequential calls), with the btree leaf inserts
    and heap records per call, and the share of HOT updates on the hot tables
    after a claim / retry / complete cycle of the ingested messages;
(b) 16 threads, one connection each, calling 1-message ingest_webhook (or bare
    pgmq.send) in autocommit for a fixed time: throughput of each side and the
    ratio, plus the wait events sampled from pg_stat_activity meanwhile.
Rounds alternate between the two sides so drift hits both alike.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.common import bench_database
from tests.payloads import text_message, webhook

THREADS = 16
SECONDS = 5.0  # per side per round
ROUNDS = 3
WAL_CALLS = 500
CONVERSATIONS = 5000

_counter = itertools.count()
_counter_lock = threading.Lock()


def _payload() -> dict[str, Any]:
    with _counter_lock:
        n = next(_counter)
    return webhook(
        [text_message(f"25079{n % CONVERSATIONS:07d}", "hello there", f"wamid.conc.{n}")]
    )


def _wal_stats(conn: psycopg.Connection[Any], start: str, end: str) -> dict[str, tuple[int, int]]:
    """resource_manager/record_type -> (count, bytes incl. full-page images)."""
    rows = conn.execute(
        'SELECT "resource_manager/record_type", count, combined_size '
        "FROM pg_get_wal_stats(%s::pg_lsn, %s::pg_lsn, true) WHERE count > 0",
        (start, end),
    ).fetchall()
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def _wal_per_call(conn: psycopg.Connection[Any], label: str, sql: str) -> None:
    payloads = [_payload() for _ in range(WAL_CALLS)]
    conn.execute("CHECKPOINT")  # full-page images after a checkpoint hit both sides alike
    start = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]  # type: ignore[index]
    for p in payloads:
        conn.execute(sql, (Jsonb(p),)).fetchone()
    end = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]  # type: ignore[index]
    total = conn.execute("SELECT %s::pg_lsn - %s::pg_lsn", (end, start)).fetchone()[0]  # type: ignore[index]
    stats = _wal_stats(conn, start, end)
    leaf = sum(c for k, (c, _) in stats.items() if k.startswith("Btree/INSERT"))
    heap = sum(c for k, (c, _) in stats.items() if k.startswith("Heap"))
    fpi = sum(b for k, (_, b) in stats.items())
    print(
        f"  {label:<22}: {float(total) / WAL_CALLS:8.0f} bytes WAL/call "
        f"({leaf / WAL_CALLS:.1f} btree inserts, {heap / WAL_CALLS:.1f} heap records per call; "
        f"records {fpi} bytes over {WAL_CALLS} calls)"
    )
    top = sorted(stats.items(), key=lambda kv: -kv[1][1])[:8]
    print("    top records: " + ", ".join(f"{k} x{c / WAL_CALLS:.1f}" for k, (c, _) in top))


def _hot_updates(conn: psycopg.Connection[Any]) -> None:
    """Claim, retry once, claim again and complete every queued message; show HOT shares."""
    conn.execute("SELECT pg_stat_reset()")
    conn.execute("UPDATE wapipe.settings SET value = '0' WHERE key = 'retry.initial_delay_seconds'")
    while True:
        rows = conn.execute(
            "SELECT msg_id, attempt FROM wapipe.get_next_queue_message('bench-hot', 30, 100)"
        ).fetchall()
        if not rows:
            break
        for msg_id, attempt in rows:
            if attempt == 1:
                conn.execute(
                    "SELECT wapipe.schedule_message_retry(%s, 'bench-hot', 'x')", (msg_id,)
                )
            else:
                conn.execute(
                    "SELECT * FROM wapipe.complete_message(%s, 'bench-hot', %s)",
                    (msg_id, Jsonb({"type": "text", "text": {"body": "ok"}})),
                )
    time.sleep(1.0)  # statistics are flushed when a backend goes idle
    conn.execute("SELECT pg_stat_clear_snapshot()")
    for rel, upd, hot in conn.execute(
        "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
        "WHERE schemaname = 'wapipe'"
        " AND relname IN ('processed_messages', 'conversations', 'outbox') "
        "ORDER BY relname"
    ):
        print(f"  {rel:<22}: {upd} updates, {hot} HOT ({100.0 * hot / max(upd, 1):.0f} %)")


def _hammer(url: str, sql: str, seconds: float) -> tuple[int, collections.Counter[str]]:
    done = [0] * THREADS
    stop = threading.Event()
    waits: collections.Counter[str] = collections.Counter()

    def work(i: int) -> None:
        with psycopg.connect(url, autocommit=True, application_name="bench-conc") as c:
            payloads = [_payload() for _ in range(64)]
            k = 0
            while not stop.is_set():
                p = payloads[k % 64]
                if k % 64 == 63:
                    payloads = [_payload() for _ in range(64)]
                c.execute(sql, (Jsonb(p),)).fetchone()
                k += 1
                done[i] += 1

    def sample() -> None:
        with psycopg.connect(url, autocommit=True) as c:
            while not stop.is_set():
                for (w,) in c.execute(
                    "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU')"
                    " FROM pg_stat_activity "
                    "WHERE application_name = 'bench-conc' AND state = 'active'"
                ):
                    waits[w] += 1
                time.sleep(0.02)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    sampler = threading.Thread(target=sample)
    for t in threads:
        t.start()
    time.sleep(0.5)  # connections up
    base = sum(done)
    sampler.start()
    started = time.perf_counter()
    time.sleep(seconds)
    calls = sum(done) - base
    elapsed = time.perf_counter() - started
    stop.set()
    for t in [*threads, sampler]:
        t.join()
    return int(calls / elapsed), waits


def run() -> None:
    print(
        "== db_ingest_concurrent: WAL per call and 16-thread throughput,"
        " ingest_webhook vs bare pgmq.send"
    )
    ingest = "SELECT * FROM wapipe.ingest_webhook(%s, 'bench')"
    bare = "SELECT pgmq.send('bench_bare', %s)"
    with bench_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
            conn.execute("SELECT pgmq.create('bench_bare')")
            print("(a) WAL per 1-message call, sequential:")
            for _ in range(2):  # the first pass warms caches and creates conversations
                _wal_per_call(conn, "wapipe.ingest_webhook", ingest)
                _wal_per_call(conn, "bare pgmq.send", bare)
            print("    HOT updates while claiming, retrying once and completing them:")
            _hot_updates(conn)
        print(f"(b) {THREADS} threads x {SECONDS:.0f} s per side, {ROUNDS} rounds:")
        ours_all: list[int] = []
        bare_all: list[int] = []
        ours_waits: collections.Counter[str] = collections.Counter()
        for _ in range(ROUNDS):
            ours, w = _hammer(url, ingest, SECONDS)
            ours_waits += w
            theirs, _ = _hammer(url, bare, SECONDS)
            ours_all.append(ours)
            bare_all.append(theirs)
            print(
                f"  round: ingest_webhook {ours} calls/s, pgmq.send {theirs} calls/s "
                f"= {ours / max(theirs, 1):.2f}x"
            )
        ratio = sum(ours_all) / max(sum(bare_all), 1)
        print(
            f"  mean: ingest_webhook {sum(ours_all) / ROUNDS:.0f} calls/s, "
            f"pgmq.send {sum(bare_all) / ROUNDS:.0f} calls/s, ratio {ratio:.2f}x"
        )
        total = sum(ours_waits.values()) or 1
        print(
            "  ingest wait events (share of active samples): "
            + ", ".join(f"{k} {100.0 * v / total:.0f} %" for k, v in ours_waits.most_common(6))
        )


if __name__ == "__main__":
    run()
