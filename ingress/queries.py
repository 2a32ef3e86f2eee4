"""Every statement the ingress runs: calls of stored functions with named parameters."""

from __future__ import annotations

from typing import LiteralString

# The payload travels as the JSON text already validated in Python and is parsed
# once by PostgreSQL; Jsonb(obj) would re-serialise it in Python first (not
# benchmarked separately: the database side dominates, see bench.ingress).
INGEST_WEBHOOK: LiteralString = (
    "SELECT event_id, new_messages, duplicates, statuses, errors "
    "FROM wapipe.ingest_webhook(%(payload)s::jsonb, %(correlation_id)s)"
)

# Group commit (store.IngestBatcher): several POSTs, one call, one transaction. The
# payloads travel as one JSON array, joined from the checked texts: a text[] would
# be escaped character by character in Python first.
INGEST_WEBHOOKS: LiteralString = (
    "SELECT ord, event_id, new_messages, duplicates, statuses, errors "
    "FROM wapipe.ingest_webhooks(ARRAY(SELECT p FROM jsonb_array_elements(%(payloads)s::jsonb)"
    " WITH ORDINALITY AS t(p, i) ORDER BY i), %(correlation_ids)s::text[])"
)

# Readiness: migrations yoyo has applied (compared with db/schema/ on disk).
APPLIED_MIGRATIONS: LiteralString = "SELECT migration_id FROM public._yoyo_migration"

# GET /status (ingress/status.py): read-only monitoring calls; the database user
# needs the wapipe_monitor role for them (the ingress role alone may only ingest).
READ_ONLY_SNAPSHOT: LiteralString = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
STATUS_HEALTH: LiteralString = (
    "SELECT status, reasons, queue_depth, extract(epoch FROM oldest_message_age)::float8,"
    " in_flight, retrying, dead_letters, breakers_open, workers_alive, stuck_workflows,"
    " cron_failures_last_hour, last_cron_run, now() FROM wapipe.system_health()"
)
STATUS_SERIES: LiteralString = (
    "SELECT minute, messages_in, messages_out, dead_letters, failed_attempts, queue_depth, p95_ms"
    " FROM wapipe.status_page_series(%(minutes)s)"
)
# Conversations a human has now (issue 17); the page masks the user keys.
STATUS_HANDOFFS: LiteralString = (
    "SELECT conversation_key, started_at, started_by, until FROM wapipe.list_handoffs(false, 50)"
)
STATUS_BREAKERS: LiteralString = (
    "SELECT name, kind, state, since, window_calls, window_failures, window_failure_rate,"
    " times_opened, healthy_endpoints, total_endpoints, deferred_messages"
    " FROM wapipe.circuit_breaker_status"
)
