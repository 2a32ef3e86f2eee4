"""History cost: a large, daily-partitioned history vs an empty database.

(a) ingest (one single-message POST per call) and claim+complete cost per message
    on an empty database, then again with HISTORY messages of history spread over 5
    days (filled by SQL: webhook_events, processed_messages, message_statuses,
    outbox, service_calls and the pgmq archive, one row each per message; secondary
    indexes dropped during the fill and built again after it, as a bulk load does);
(b) retention of one whole day (HISTORY / 5 messages, 1 million by default): the old
    row-by-row DELETE of that day's rows (in a transaction that is rolled back) vs
    maintain_partitions dropping the day, in time and WAL bytes, for the partitioned
    tables; the old DELETE of that day of processed_messages (dropped by week since
    0029, so not by this day's drop); and what the DELETE of the same day still
    costs in the unpartitioned ones (message_statuses, outbox: db/README.md says why);
(c) bytes on disk per stored message (heap + indexes + TOAST over every table a
    message touches, per table), now and before migration 0028 (its two indexes
    built again for the measurement).

WAPIPE_BENCH_HISTORY sets the number of history messages. The default, 5 000 000
(what the issue asks), writes ~15 GB and takes about 15-25 minutes on a 2-core
machine (most of it the fill); WAPIPE_BENCH_HISTORY=500000 runs in ~3 minutes.
Prints numbers; asserts nothing. Runs on a throwaway cluster (bench.common).
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
from psycopg.types.json import Jsonb

from bench.common import bench_database

HISTORY = int(os.environ.get("WAPIPE_BENCH_HISTORY", "5000000"))
DAYS = 5
INGESTS = 1_000
CLAIM_MESSAGES = 1_000
CLAIM_CONVERSATIONS = 200
BATCH = 10
REPLY = Jsonb({"type": "text", "text": {"body": "ok"}})
NUMBER_ID = "300100200300400"
PARTITIONED = ("wapipe.webhook_events", "wapipe.service_calls", "pgmq.a_wapipe_inbound")
WEEKLY = ("wapipe.processed_messages",)  # by week through its id (0029), dropped by week
UNPARTITIONED = ("wapipe.message_statuses", "wapipe.outbox")
MESSAGE_TABLES = (*PARTITIONED, *WEEKLY, *UNPARTITIONED, "wapipe.message_wamids")
# each table's time column: a day's rows for (b)
TIME_COLUMNS = {
    "wapipe.webhook_events": "received_at",
    "wapipe.service_calls": "called_at",
    "pgmq.a_wapipe_inbound": "archived_at",
    "wapipe.processed_messages": "received_at",
    "wapipe.message_statuses": "updated_at",
    "wapipe.outbox": "created_at",
}
# what migration 0028 dropped or replaced, built again to measure (c) before it
BEFORE_0028 = {
    "bench_before_0028_a": "wapipe.webhook_events (correlation_id)",
    "bench_before_0028_b": "wapipe.service_calls (called_at)",
    "bench_before_0028_c": "wapipe.outbox (created_at)",
    "bench_before_0028_d": "wapipe.outbox (sent_at) WHERE sent_at IS NOT NULL",
}
AFTER_0028 = (
    "wapipe.service_calls_called_at_brin",
    "wapipe.outbox_created_at_brin",
    "wapipe.outbox_sent_at_brin",
)

# The rows of message g, received at ts: g spread evenly over DAYS days ending an hour ago.
ROWS = """
SELECT g, now() - make_interval(secs => %(span)s * (g::float8 / %(n)s)) - interval '1 hour' AS ts
FROM generate_series(1, %(n)s) g
"""
FILL = """
INSERT INTO wapipe.webhook_events (received_at, correlation_id, payload, raw_body, new_messages)
SELECT ts, md5(g::text), body::jsonb, NULL::bytea, 1  -- raw bytes: only a repaired body's
FROM (SELECT g, ts,
             '{"object":"whatsapp_business_account","entry":[{"id":"100200300400500","changes":'
             || '[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":'
             || '{"display_phone_number":"15550001111","phone_number_id":"300100200300400"},'
             || '"contacts":[{"profile":{"name":"History"},"wa_id":"2519' || g || '"}],'
             || '"messages":[{"from":"2519' || g || '","id":"wamid.hist.' || g
             || '","timestamp":"1700000000","type":"text","text":{"body":"an old message '
             || g || '"}}]}}]}]}' AS body
      FROM (ROWS) r) s;
INSERT INTO wapipe.processed_messages (
  id, wamid, conversation_key, phone_number_id, from_wa_id, message_type, payload, wa_timestamp,
  priority, status, received_at, processed_at, processing_ms, handled_by, correlation_id)
SELECT (floor(extract(epoch FROM ts) / 86400)::bigint << 36)
         | nextval('wapipe.processed_messages_id_seq'),  -- the id carries its day (0029)
       'wamid.hist.' || g, '300100200300400:2519' || (g %% 50000), '300100200300400',
       '2519' || (g %% 50000), 'text',
       ('{"from":"2519' || g || '","id":"wamid.hist.' || g
        || '","type":"text","text":{"body":"an old message ' || g || '"}}')::jsonb,
       ts, 5, 'done', ts, ts + interval '1 second', 900, 'agent:bench', md5(g::text)
FROM (ROWS) r;
INSERT INTO wapipe.message_wamids (wamid, message_id)
SELECT m.wamid, m.id FROM wapipe.processed_messages m WHERE m.handled_by = 'agent:bench'
ORDER BY m.id;
-- the history's weeks, out of the default partition
SELECT wapipe.maintain_partitions();
INSERT INTO wapipe.outbox (source_key, phone_number_id, to_wa_id, body, status, sent_wamid,
                           created_at, sent_at)
SELECT 'wamid.hist.' || g, '300100200300400', '2519' || g,
       '{"type": "text", "text": {"body": "ok"}}', 'sent', 'wamid.out.' || g, ts, ts
FROM (ROWS) r;
INSERT INTO wapipe.message_statuses (wamid, phone_number_id, recipient_id, status, status_rank,
                                     status_at, updated_at)
SELECT 'wamid.out.' || g, '300100200300400', '2519' || g, 'read', 3, ts, ts
FROM (ROWS) r;
INSERT INTO wapipe.service_calls (service, endpoint, ok, duration_ms, called_at)
SELECT 'agent-bench', 'http://127.0.0.1/agent', true, 900, ts
FROM (ROWS) r;
INSERT INTO pgmq.a_wapipe_inbound (msg_id, read_ct, enqueued_at, archived_at, vt, message, headers)
SELECT 1000000000 + g, 1, ts, ts + interval '1 second', ts,
       jsonb_build_object('wamid', 'wamid.hist.' || g, 'type', 'text',
                          'conversation_key', '300100200300400:2519' || (g %% 50000)),
       jsonb_build_object('x-pgmq-group', '300100200300400:2519' || (g %% 50000))
FROM (ROWS) r
""".replace("(ROWS)", "(" + ROWS + ")")


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


class Costs(NamedTuple):
    """Per message: wall seconds (median over batches for claims) and the backend's CPU
    seconds. On a shared machine the wall time follows the load of the moment; the
    CPU time the database backend spent is what the history can change."""

    ingest: float
    claim: float
    ingest_cpu: float
    claim_cpu: float


def _backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) the backend process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _per_message_costs(conn: psycopg.Connection[Any], offset: int) -> Costs:
    """Costs of one-message ingests, then of claim(batch) + complete."""
    pid = conn.info.backend_pid
    cpu = _backend_cpu(pid)
    started = time.perf_counter()
    for i in range(INGESTS):
        n = offset + i
        conn.execute(
            "SELECT * FROM wapipe.ingest_webhook(%s, 'bench')",
            (_payload(n, f"2507{n % CLAIM_CONVERSATIONS:08d}"),),
        )
    ingest = (time.perf_counter() - started) / INGESTS
    ingest_cpu = (_backend_cpu(pid) - cpu) / INGESTS
    cpu = _backend_cpu(pid)
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
    claim_cpu = (_backend_cpu(pid) - cpu) / max(done, 1)
    return Costs(ingest, statistics.median(costs), ingest_cpu, claim_cpu)


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


def _secondary_indexes(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(name, definition) of the message tables' indexes that back no constraint."""
    rows = conn.execute(
        "SELECT x.indexrelid::regclass::text, pg_get_indexdef(x.indexrelid) FROM pg_index x "
        "WHERE x.indrelid = ANY (%s::regclass[]) AND NOT x.indisunique",
        (list(MESSAGE_TABLES),),
    ).fetchall()
    return [(str(name), str(definition).replace(" ON ONLY ", " ON ")) for name, definition in rows]


def _fill(conn: psycopg.Connection[Any]) -> float:
    """Seconds to fill HISTORY messages of history, indexes included."""
    started = time.perf_counter()
    for table in PARTITIONED:  # the days of the history, as if made ahead at the time
        conn.execute(
            "SELECT partman.create_partition_time(%s, ARRAY(SELECT generate_series("
            "date_trunc('day', now()) - make_interval(days => %s), now(), interval '1 day')))",
            (table, DAYS + 1),
        )
    conn.execute("SET maintenance_work_mem = '512MB'")
    conn.execute("SET synchronous_commit = off")
    indexes = _secondary_indexes(conn)
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    for statement in filter(str.strip, FILL.split(";\n")):
        conn.execute(statement, {"n": HISTORY, "span": DAYS * 86_400})
    for _, definition in indexes:
        conn.execute(definition)
    conn.execute("RESET synchronous_commit")
    conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def _day_delete(
    conn: psycopg.Connection[Any], tables: tuple[str, ...], day: Any
) -> tuple[float, int]:
    """Seconds and WAL bytes of deleting one day's rows from tables (rolled back)."""
    conn.execute("CHECKPOINT")
    lsn = _wal(conn)
    started = time.perf_counter()
    with conn.transaction(force_rollback=True):
        for table in tables:
            column = TIME_COLUMNS[table]
            conn.execute(
                f"DELETE FROM {table} WHERE {column} >= %s AND {column} < %s + interval '1 day'",
                (day, day),
            )
    return time.perf_counter() - started, _wal_since(conn, lsn)


def _keep_days(conn: psycopg.Connection[Any], days: float) -> None:
    conn.execute(
        "UPDATE wapipe.settings SET value = %s WHERE key IN ('retention.webhook_events_days', "
        "'retention.service_calls_days', 'retention.queue_archive_days')",
        (Jsonb(round(days, 4)),),
    )


def _measure(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT wapipe.maintain_partitions()")
        _per_message_costs(conn, 10_000_000)  # warm-up: plan caches, buffers
        # vacuumed like the history will be (the warm-up left dead queue rows behind)
        conn.execute("VACUUM ANALYZE")
        empty = _per_message_costs(conn, 0)

        fill_s = _fill(conn)
        full = _per_message_costs(conn, 20_000_000)
        print(
            f"(a) history: {HISTORY:,} messages over {DAYS} days (filled by SQL in {fill_s:.0f} s; "
            f"one row per message in each of {len(MESSAGE_TABLES)} tables); per message, "
            "wall time and the database backend's CPU time (the load of a shared machine "
            "moves the first)",
            flush=True,
        )
        for label, e_wall, f_wall, e_cpu, f_cpu in (
            (
                "ingest (1-message POST)",
                empty.ingest,
                full.ingest,
                empty.ingest_cpu,
                full.ingest_cpu,
            ),
            (
                f"claim+complete (batch {BATCH})",
                empty.claim,
                full.claim,
                empty.claim_cpu,
                full.claim_cpu,
            ),
        ):
            print(
                f"    {label}: wall empty {e_wall * 1e3:.3f} ms, "
                f"with history {f_wall * 1e3:.3f} ms "
                f"({f_wall / e_wall:.2f}x); backend CPU empty {e_cpu * 1e3:.3f} ms, with history "
                f"{f_cpu * 1e3:.3f} ms ({f_cpu / max(e_cpu, 1e-9):.2f}x) (goal <= 1.2x)",
                flush=True,
            )

        # (c) before (b) drops a day
        stored = HISTORY + 2 * INGESTS + INGESTS  # history + benched messages (+ warm-up)
        per_table = {table: _bytes(conn, (table,)) for table in MESSAGE_TABLES}
        now_bytes = sum(per_table.values())
        for name, definition in BEFORE_0028.items():
            conn.execute(f"CREATE INDEX {name} ON {definition}")
        before_bytes = (
            now_bytes
            + sum(_bytes(conn, (f"wapipe.{name}",)) for name in BEFORE_0028)
            - sum(_bytes(conn, (name,)) for name in AFTER_0028)
        )
        for name in BEFORE_0028:
            conn.execute(f"DROP INDEX wapipe.{name}")
        conn.execute("SELECT pg_stat_force_next_flush()")
        unused = conn.execute(
            "SELECT coalesce(pi.indexrelid, s.indexrelid)::regclass::text AS idx, "
            "       pg_size_pretty(sum(pg_relation_size(s.indexrelid))) "
            "FROM pg_stat_user_indexes s "
            "LEFT JOIN pg_inherits ii ON ii.inhrelid = s.indexrelid "
            "LEFT JOIN pg_index pi ON pi.indexrelid = ii.inhparent "
            "WHERE s.relid IN (SELECT p.relid FROM unnest(%s::regclass[]) t, "
            "                  pg_partition_tree(t) p) "
            "GROUP BY 1 HAVING sum(s.idx_scan) = 0 ORDER BY 1",
            (list(MESSAGE_TABLES),),
        ).fetchall()

        # (b) the oldest whole day: the history starts mid-day (day0), day1 is whole
        row = conn.execute(
            "SELECT date_trunc('day', min(received_at)) + interval '1 day', now() "
            "FROM wapipe.webhook_events"
        ).fetchone()
        assert row is not None
        day1, now = row
        to_days = 1 / 86_400
        _keep_days(conn, (now - day1).total_seconds() * to_days - 0.5)  # day0 goes, day1 stays
        conn.execute("SELECT wapipe.maintain_partitions()")
        counted = conn.execute(
            "SELECT count(*) FROM wapipe.processed_messages "
            "WHERE received_at >= %s AND received_at < %s + interval '1 day'",
            (day1, day1),
        ).fetchone()
        assert counted is not None
        day_messages = int(counted[0])
        delete_s, delete_wal = _day_delete(conn, PARTITIONED, day1)
        week_s, week_wal = _day_delete(conn, WEEKLY, day1)
        still_s, still_wal = _day_delete(conn, UNPARTITIONED, day1)
        _keep_days(conn, (now - day1).total_seconds() * to_days - 1.5)  # day1 goes
        conn.execute("CHECKPOINT")
        lsn = _wal(conn)
        started = time.perf_counter()
        dropped = conn.execute("SELECT wapipe.maintain_partitions()").fetchone()
        drop_s = time.perf_counter() - started
        drop_wal = _wal_since(conn, lsn)
        print(
            f"(b) retention of one day ({day_messages:,} messages), webhook_events + service_calls "
            f"+ pgmq archive: old DELETE {delete_s:.1f} s, {delete_wal / 1e6:.0f} MB WAL; "
            f"partition drop ({dropped[0] if dropped else '?'} partitions) {drop_s * 1e3:.0f} ms, "
            f"{drop_wal / 1e3:.0f} kB WAL: {delete_s / drop_s:.0f}x faster, "
            f"{delete_wal / max(drop_wal, 1):.0f}x less WAL"
        )
        print(
            f"    processed_messages (dropped by week since 0029, with its dedup rows): the old "
            f"DELETE of that day {week_s:.1f} s, {week_wal / 1e6:.0f} MB WAL"
        )
        print(
            f"    still deleted row by row, the same day of message_statuses + outbox: "
            f"{still_s:.1f} s, {still_wal / 1e6:.0f} MB WAL"
        )
        print(
            f"(c) bytes per stored message over {len(MESSAGE_TABLES)} tables: before 0028 "
            f"{before_bytes / stored:.0f} B, now {now_bytes / stored:.0f} B "
            f"({now_bytes / before_bytes:.3f}x); per table: "
            + ", ".join(f"{t.split('.')[1]} {b / stored:.0f}" for t, b in per_table.items()),
            flush=True,
        )
        print(
            "    indexes of these tables not scanned once by this bench (ingest, claim, complete): "
            + (", ".join(f"{name} ({size})" for name, size in unused) or "none")
        )


def run() -> None:
    with bench_database() as url:
        _measure(url)


if __name__ == "__main__":
    run()
