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

# Readiness: migrations yoyo has applied (compared with db/schema/ on disk).
APPLIED_MIGRATIONS: LiteralString = "SELECT migration_id FROM public._yoyo_migration"
