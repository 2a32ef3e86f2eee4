"""Migrations 0027-0029 convert an existing database to partitions and keep every row.

A cluster is migrated up to 0026 (the old, unpartitioned layout), filled with ten
days of webhook events, service calls, pgmq archive rows and processed messages
(finished and queued), then migrated to the current schema: every row is still
there, byte for byte; events, calls and archive rows each in their own day's
partition (none left in a default partition), messages in the legacy partition with
their ids unchanged and every wamid in the dedup table; ids keep counting from where
they were (a new message's id carries today's day), and an old wamid redelivered is
still a duplicate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from yoyo import get_backend, read_migrations

from tests.payloads import text_message, webhook
from wapipe.cluster import remove_cluster
from wapipe.migrate import migrate, yoyo_url
from wapipe.settings import DB_DIR
from wapipe.testing.harness import new_cluster

FILL = """
INSERT INTO wapipe.webhook_events (received_at, correlation_id, payload, new_messages, raw_body)
SELECT now() - make_interval(hours => g), 'c' || g,
       jsonb_build_object('object', 'whatsapp_business_account', 'n', g), 1, convert_to('raw' || g, 'UTF8')
FROM generate_series(1, 240) g;
INSERT INTO wapipe.service_calls (service, endpoint, ok, duration_ms, error, called_at)
SELECT 'agent-' || (g % 3), 'http://agent/' || g, g % 5 <> 0, g, CASE WHEN g % 5 = 0 THEN 'boom' END,
       now() - make_interval(hours => g)
FROM generate_series(1, 240) g;
INSERT INTO pgmq.a_wapipe_inbound (msg_id, read_ct, enqueued_at, archived_at, vt, message, headers)
SELECT g, 1, now() - make_interval(hours => g + 1), now() - make_interval(hours => g), now(),
       jsonb_build_object('wamid', 'wamid.' || g), '{"x-pgmq-group": "k"}'
FROM generate_series(1, 240) g;
INSERT INTO wapipe.processed_messages (wamid, conversation_key, phone_number_id, from_wa_id,
  message_type, payload, wa_timestamp, priority, status, received_at, processed_at)
SELECT 'wamid.' || g, '300:250' || (g % 7), '300', '250' || (g % 7), 'text',
       jsonb_build_object('id', 'wamid.' || g), now() - make_interval(hours => g), 5,
       CASE WHEN g <= 3 THEN 'queued' ELSE 'done' END, now() - make_interval(hours => g),
       CASE WHEN g > 3 THEN now() - make_interval(hours => g) END
FROM generate_series(1, 240) g;
"""  # noqa: E501

TABLES = {
    "wapipe.webhook_events": "id",
    "wapipe.service_calls": "id",
    "pgmq.a_wapipe_inbound": "msg_id",
    "wapipe.processed_messages": "id",
}
DAILY = ("wapipe.webhook_events", "wapipe.service_calls", "pgmq.a_wapipe_inbound")


def _rows(url: str) -> dict[str, tuple[int, str]]:
    out = {}
    with psycopg.connect(url) as conn:
        for table, key in TABLES.items():
            row = conn.execute(
                f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t.{key})) FROM {table} t"
            ).fetchone()
            assert row is not None
            out[table] = (row[0], row[1])
    return out


def _until(root: Path, last: str) -> Path:
    import shutil

    older = root / "until_0026"
    (older / "schema").mkdir(parents=True)
    for path in sorted((DB_DIR / "schema").glob("*.sql")):
        if path.stem <= last:
            shutil.copy(path, older / "schema" / path.name)
    return older


def test_conversion_keeps_every_row(server_tmp: Path) -> None:
    cluster = new_cluster(server_tmp, "wapipe")
    try:
        cluster.up()
        old_layout = _until(server_tmp, "0026_window_handoff")
        backend = get_backend(yoyo_url(cluster.url))
        try:
            migrate(cluster.url, db_dir=_only_first(server_tmp))
            with backend.lock():
                backend.apply_migrations(
                    backend.to_apply(read_migrations(str(old_layout / "schema")))
                )
        finally:
            backend.connection.close()
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            assert conn.execute(
                "SELECT relkind FROM pg_class WHERE oid = 'wapipe.webhook_events'::regclass"
            ).fetchone() == ("r",)
            conn.execute(FILL)
        before = _rows(cluster.url)
        assert all(count == 240 for count, _ in before.values())

        report = migrate(cluster.url)

        # the conversions, then whatever later migrations there are (on the same rows)
        assert report.migrations_applied[:3] == [
            "0027_history_partitions",
            "0028_history_fewer_indexes",
            "0029_message_partitions",
        ]
        assert _rows(cluster.url) == before
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            for table in TABLES:
                kind = conn.execute(
                    "SELECT relkind FROM pg_class WHERE oid = %s::regclass", (table,)
                ).fetchone()
                assert kind == ("p",), table
                if table not in DAILY:
                    continue
                left = conn.execute(f"SELECT count(*) FROM {table}_default").fetchone()
                assert left == (0,), f"{table}: rows left in the default partition"
            misplaced = conn.execute(
                "SELECT count(*) FROM wapipe.webhook_events "
                "WHERE tableoid::regclass::text <> "
                "'wapipe.webhook_events_p' || to_char(received_at, 'YYYY_MM_DD')"
            ).fetchone()
            assert misplaced == (0,)
            new_id = conn.execute(
                "INSERT INTO wapipe.webhook_events (payload) VALUES ('{}') RETURNING id"
            ).fetchone()
            assert new_id is not None and new_id[0] > 240
            _messages_converted(conn)
    finally:
        remove_cluster(cluster)


def _only_first(root: Path) -> Path:
    import shutil

    first = root / "first_release"
    (first / "schema").mkdir(parents=True)
    shutil.copy(sorted((DB_DIR / "schema").glob("*.sql"))[0], first / "schema")
    return first


def _messages_converted(conn: psycopg.Connection[Any]) -> None:
    placed = conn.execute(
        "SELECT tableoid::regclass::text, count(*), max(id) FROM wapipe.processed_messages"
        " GROUP BY 1"
    ).fetchall()
    assert placed == [("wapipe.processed_messages_legacy", 240, 240)]
    wamids = conn.execute(
        "SELECT count(*) FROM wapipe.message_wamids w "
        "JOIN wapipe.processed_messages m ON m.id = w.message_id AND m.wamid = w.wamid"
    ).fetchone()
    assert wamids == (240,)
    old, new_one = text_message("2505", "old", "wamid.17"), text_message("2505", "new", "wamid.new")
    payload = webhook([old, new_one])
    again = conn.execute(
        "SELECT new_messages, duplicates FROM wapipe.ingest_webhook(%s, 'again')", (Jsonb(payload),)
    ).fetchone()
    assert again == (1, 1)
    new = conn.execute(
        "SELECT id >> 36 = floor(extract(epoch FROM now()) / 86400),"
        " id & ((1::bigint << 36) - 1) > 240,"
        " tableoid::regclass::text"
        "   = 'wapipe.processed_messages_w'"
        "     || to_char(date_trunc('week', now() AT TIME ZONE 'UTC'), 'YYYY_MM_DD')"
        " FROM wapipe.processed_messages WHERE wamid = 'wamid.new'"
    ).fetchone()
    assert new == (True, True, True)
