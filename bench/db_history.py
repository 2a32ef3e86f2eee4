"""History cost: a large, daily-partitioned history vs an empty database.

(a) ingest (one single-message POST per call) and claim+complete cost per message
    on an empty database, then again with HISTORY messages of history spread over 5
    days (filled by SQL: webhook_events, processed_messages, message_statuses,
    outbox, service_calls and the pgmq archive, one row each per message);
(b) retention of the two oldest days (one partial, one whole): maintain_partitions
    dropping them vs the old row-by-row DELETE of the same rows (in a transaction
    that is rolled back), in time and WAL bytes;
(c) bytes on disk per stored message (heap + indexes + TOAST over every table a
    message touches) in the partitioned layout and in the old one (unpartitioned
    copies of the converted tables with their old indexes, same rows).

WAPIPE_BENCH_HISTORY sets the number of history messages (default 500 000: the fill
takes about 2 minutes on a 2-core machine).
Prints numbers; asserts nothing. Runs on a throwaway cluster (bench.common).
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.common import bench_database

HISTORY = int(os.environ.get("WAPIPE_BENCH_HISTORY", "500000"))
DAYS = 5
INGESTS = 1_000
CLAIM_MESSAGES = 1_000
CLAIM_CONVERSATIONS = 200
BATCH = 10
REPLY = Jsonb({"type": "text", "text": {"body": "ok"}})
NUMBER_ID = "300100200300400"
PARTITIONED = ("wapipe.webhook_events", "wapipe.service_calls", "pgmq.a_wapipe_inbound")
MESSAGE_TABLES = (
    *PARTITIONED,
    "wapipe.processed_messages",
    "wapipe.message_statuses",
    "wapipe.outbox",
)

FILL = """
INSERT INTO wapipe.webhook_events (received_at, correlation_id, payload, raw_body, new_messages)
SELECT ts, 'corr-' || g, p, convert_to(p::text, 'UTF8'), 1
FROM (SELECT g, now() - make_interval(secs => %(span)s * (g::float8 / %(n)s)) - interval '1 hour' AS ts,
             jsonb_build_object('object', 'whatsapp_business_account', 'entry', jsonb_build_array(
               jsonb_build_object('id', '100200300400500', 'changes', jsonb_build_array(
                 jsonb_build_object('field', 'messages', 'value', jsonb_build_object(
                   'messaging_product', 'whatsapp',
                   'metadata', jsonb_build_object('display_phone_number', '15550001111',
                                                  'phone_number_id', '300100200300400'),
                   'contacts', jsonb_build_array(jsonb_build_object(
                     'profile', jsonb_build_object('name', 'History'), 'wa_id', '2519' || g)),
                   'messages', jsonb_build_array(jsonb_build_object(
                     'from', '2519' || g, 'id', 'wamid.hist.' || g, 'timestamp', '1700000000',
                     'type', 'text', 'text', jsonb_build_object('body', 'an old message ' || g)))))))))
               AS p
      FROM generate_series(1, %(n)s) g) s;
INSERT INTO wapipe.processed_messages (
  wamid, conversation_key, phone_number_id, from_wa_id, message_type, payload, wa_timestamp,
  priority, status, received_at, processed_at, processing_ms, handled_by, correlation_id)
SELECT 'wamid.hist.' || g, '300100200300400:2519' || (g %% 50000), '300100200300400', '2519' || (g %% 50000),
       'text', jsonb_build_object('from', '2519' || g, 'id', 'wamid.hist.' || g, 'type', 'text',
                                  'text', jsonb_build_object('body', 'an old message ' || g)),
       ts, 5, 'done', ts, ts + interval '1 second', 900, 'agent:bench', 'corr-' || g
FROM (SELECT g, now() - make_interval(secs => %(span)s * (g::float8 / %(n)s)) - interval '1 hour' AS ts
      FROM generate_series(1, %(n)s) g) s;
INSERT INTO wapipe.outbox (source_key, phone_number_id, to_wa_id, body, status, sent_wamid,
                           created_at, sent_at)
SELECT 'wamid.hist.' || g, '300100200300400', '2519' || g,
       '{"type": "text", "text": {"body": "ok"}}', 'sent', 'wamid.out.' || g, ts, ts
FROM (SELECT g, now() - make_interval(secs => %(span)s * (g::float8 / %(n)s)) - interval '1 hour' AS ts
      FROM generate_series(1, %(n)s) g) s;
INSERT INTO wapipe.message_statuses (wamid, phone_number_id, recipient_id, status, status_rank,
                                     status_at, updated_at)
SELECT 'wamid.out.' || g, '300100200300400', '2519' || g, 'read', 3, ts, ts
FROM (SELECT g, now() - make_interval(secs => %(span)s * (g::float8 / %(n)s)) - interval '1 hour' AS ts
      FROM generate_series(1, %(n)s) g) s;
INSERT INTO wapipe.service_calls (service, endpoint, ok, duration_ms, called_at)
SELECT 'agent-bench', 'http://127.0.0.1/agent', true, 900, now() - make_interval(secs => %(span)s * (g::float8 / %(n)s)) - interval '1 hour'
FROM generate_series(1, %(n)s) g;
INSERT INTO pgmq.a_wapipe_inbound (msg_id, read_ct, enqueued_at, archived_at, vt, message, headers)
SELECT 1000000000 + g, 1, ts, ts + interval '1 second', ts,
       jsonb_build_object('wamid', 'wamid.hist.' || g, 'type', 'text',
                          'conversation_key', '300100200300400:2519' || (g %% 50000)),
       jsonb_build_object('x-pgmq-group', '300100200300400:2519' || (g %% 50000))
FROM (SELECT g, now() - make_interval(secs => %(span)s * (g::float8 / %(n)s)) - interval '1 hour' AS ts
      FROM generate_series(1, %(n)s) g) s;
"""  # noqa: E501

OLD_LAYOUT = """
CREATE TABLE bench_old_events (LIKE wapipe.webhook_events INCLUDING DEFAULTS INCLUDING STORAGE);
INSERT INTO bench_old_events SELECT * FROM wapipe.webhook_events;
ALTER TABLE bench_old_events ADD PRIMARY KEY (id);
CREATE INDEX ON bench_old_events (correlation_id);
CREATE INDEX ON bench_old_events USING brin (received_at);
CREATE TABLE bench_old_calls (LIKE wapipe.service_calls INCLUDING DEFAULTS INCLUDING STORAGE);
INSERT INTO bench_old_calls SELECT * FROM wapipe.service_calls;
ALTER TABLE bench_old_calls ADD PRIMARY KEY (id);
CREATE INDEX ON bench_old_calls (service, called_at);
CREATE INDEX ON bench_old_calls (called_at);
CREATE TABLE bench_old_archive (LIKE pgmq.a_wapipe_inbound INCLUDING DEFAULTS INCLUDING STORAGE);
INSERT INTO bench_old_archive SELECT * FROM pgmq.a_wapipe_inbound;
ALTER TABLE bench_old_archive ADD PRIMARY KEY (msg_id);
CREATE INDEX ON bench_old_archive (archived_at);
"""


def _payload(n: int, wa_id: str) -> Jsonb:
    return Jsonb(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "100200300400500",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550001111",
                                    "phone_number_id": NUMBER_ID,
                                },
                                "contacts": [{"profile": {"name": "Bench"}, "wa_id": wa_id}],
                                "messages": [
                                    {
                                        "from": wa_id,
                                        "id": f"wamid.bench.{n}",
                                        "timestamp": str(int(time.time()) + n),
                                        "type": "text",
                                        "text": {"body": "hello there"},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    )


def _per_message_costs(conn: psycopg.Connection[Any], offset: int) -> tuple[float, float]:
    """Seconds per message of one-message ingests, then of claim(batch) + complete."""
    started = time.perf_counter()
    for i in range(INGESTS):
        n = offset + i
        conn.execute(
            "SELECT * FROM wapipe.ingest_webhook(%s, 'bench')",
            (_payload(n, f"2507{n % CLAIM_CONVERSATIONS:08d}"),),
        )
    ingest = (time.perf_counter() - started) / INGESTS
    done = 0
    costs = []
    while True:
        started = time.perf_counter()
        rows = conn.execute(
            "SELECT msg_id FROM wapipe.get_next_queue_message('bench', 30, %s)", (BATCH,)
        ).fetchall()
        for (msg_id,) in rows:
            conn.execute("SELECT * FROM wapipe.complete_message(%s, 'bench', %s)", (msg_id, REPLY))
        if not rows:
            break
        costs.append((time.perf_counter() - started) / len(rows))
        done += len(rows)
    return ingest, statistics.median(costs)


def _bytes(conn: psycopg.Connection[Any], tables: tuple[str, ...]) -> int:
    total = 0
    for table in tables:
        row = conn.execute(
            "SELECT coalesce((SELECT sum(pg_total_relation_size(relid))"
            "                 FROM pg_partition_tree(%s::regclass)"
            "                 WHERE isleaf AND relid <> %s::regclass),"
            "                pg_total_relation_size(%s::regclass))::bigint",
            (table, table, table),
        ).fetchone()
        assert row is not None
        total += int(row[0])
    return total


def _wal(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
    assert row is not None
    return str(row[0])


def _wal_since(conn: psycopg.Connection[Any], lsn: str) -> int:
    row = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", (lsn,)).fetchone()
    assert row is not None
    return int(row[0])


def _measure(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT wapipe.maintain_partitions()")
        _per_message_costs(conn, 10_000_000)  # warm-up: plan caches, buffers
        empty_ingest, empty_claim = _per_message_costs(conn, 0)

        started = time.perf_counter()
        for table in PARTITIONED:  # the days of the history, as if made ahead at the time
            conn.execute(
                "SELECT partman.create_partition_time(%s, ARRAY(SELECT generate_series("
                "date_trunc('day', now()) - make_interval(days => %s), now(), interval '1 day')))",
                (table, DAYS + 1),
            )
        for statement in filter(str.strip, FILL.split(";\n")):
            conn.execute(statement, {"n": HISTORY, "span": DAYS * 86_400})
        conn.execute("VACUUM ANALYZE")
        fill_s = time.perf_counter() - started
        full_ingest, full_claim = _per_message_costs(conn, 20_000_000)
        print(
            f"(a) history: {HISTORY:,} messages over {DAYS} days (filled by SQL in {fill_s:.0f} s; "
            f"one row per message in each of {len(MESSAGE_TABLES)} tables)",
            flush=True,
        )
        print(
            f"    ingest (1-message POST): empty {empty_ingest * 1e3:.3f} ms/msg, "
            f"with history {full_ingest * 1e3:.3f} ms/msg: {full_ingest / empty_ingest:.2f}x "
            f"(goal <= 1.2x)"
        )
        print(
            f"    claim+complete (batch {BATCH}): empty {empty_claim * 1e3:.3f} ms/msg, "
            f"with history {full_claim * 1e3:.3f} ms/msg: {full_claim / empty_claim:.2f}x "
            f"(goal <= 1.2x)",
            flush=True,
        )

        # (c) before (b) drops a day
        stored = HISTORY + 2 * INGESTS + INGESTS  # history + benched messages (+ warm-up)
        new_bytes = _bytes(conn, MESSAGE_TABLES)
        for statement in filter(str.strip, OLD_LAYOUT.split(";\n")):
            conn.execute(statement)
        old_bytes = _bytes(conn, ("bench_old_events", "bench_old_calls", "bench_old_archive"))
        old_bytes += _bytes(conn, MESSAGE_TABLES[len(PARTITIONED) :])
        conn.execute("DROP TABLE bench_old_events, bench_old_calls, bench_old_archive")

        # (b) the oldest day of the partitioned tables
        # the two oldest days: the first is partial (the history starts mid-day), the
        # second whole; a retention of DAYS - 2 days drops both
        day = conn.execute(
            "SELECT date_trunc('day', min(received_at)) FROM wapipe.webhook_events"
        ).fetchone()
        assert day is not None
        rows_in_day = 0
        for table, column in (
            ("wapipe.webhook_events", "received_at"),
            ("wapipe.service_calls", "called_at"),
            ("pgmq.a_wapipe_inbound", "archived_at"),
        ):
            row = conn.execute(
                f"SELECT count(*) FROM {table} "
                f"WHERE {column} >= %s AND {column} < %s + interval '2 days'",
                (day[0], day[0]),
            ).fetchone()
            assert row is not None
            rows_in_day += int(row[0])
        conn.execute("CHECKPOINT")
        lsn = _wal(conn)
        started = time.perf_counter()
        with conn.transaction(force_rollback=True):
            for table, column in (
                ("wapipe.webhook_events", "received_at"),
                ("wapipe.service_calls", "called_at"),
                ("pgmq.a_wapipe_inbound", "archived_at"),
            ):
                conn.execute(
                    f"DELETE FROM {table} "
                    f"WHERE {column} >= %s AND {column} < %s + interval '2 days'",
                    (day[0], day[0]),
                )
        delete_s = time.perf_counter() - started
        delete_wal = _wal_since(conn, lsn)

        keep_days = DAYS - 2
        conn.execute(
            "UPDATE wapipe.settings SET value = %s WHERE key IN ('retention.webhook_events_days', "
            "'retention.service_calls_days', 'retention.queue_archive_days')",
            (Jsonb(keep_days),),
        )
        conn.execute("CHECKPOINT")
        lsn = _wal(conn)
        started = time.perf_counter()
        dropped = conn.execute("SELECT wapipe.maintain_partitions()").fetchone()
        drop_s = time.perf_counter() - started
        drop_wal = _wal_since(conn, lsn)
        print(
            f"(b) retention of the 2 oldest days ({rows_in_day:,} rows over the 3 partitioned "
            "tables): "
            f"DELETE {delete_s:.2f} s, {delete_wal / 1e6:.1f} MB WAL; partition drop "
            f"({dropped[0] if dropped else '?'} partitions) {drop_s * 1e3:.1f} ms, "
            f"{drop_wal / 1e3:.1f} kB WAL: {delete_s / drop_s:.0f}x faster, "
            f"{delete_wal / max(drop_wal, 1):.0f}x less WAL"
        )
        print(
            f"(c) bytes per stored message over {len(MESSAGE_TABLES)} tables: old layout "
            f"{old_bytes / stored:.0f} B, partitioned {new_bytes / stored:.0f} B "
            f"({new_bytes / old_bytes:.2f}x)",
            flush=True,
        )


def run() -> None:
    with bench_database() as url:
        _measure(url)


if __name__ == "__main__":
    run()
