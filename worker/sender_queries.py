"""Every statement the outbox sender runs: calls of stored functions with named parameters."""

from __future__ import annotations

from typing import LiteralString

CLAIM_OUTBOX: LiteralString = (
    "SELECT id, phone_number_id, to_wa_id, body, attempts, correlation_id, window_open,"
    " locked_until FROM wapipe.claim_outbox(%(worker_id)s, %(batch)s, %(lock_seconds)s)"
)
MARK_SENT: LiteralString = "SELECT wapipe.mark_outbox_sent(%(id)s, %(worker_id)s, %(wamid)s)"
MARK_FAILED: LiteralString = (
    "SELECT wapipe.mark_outbox_failed(%(id)s, %(worker_id)s, %(error_code)s, %(error)s,"
    " %(retryable)s, %(retry_after_seconds)s)"
)
MARK_UNKNOWN: LiteralString = "SELECT wapipe.mark_outbox_unknown(%(id)s, %(worker_id)s, %(error)s)"
# The 24-hour window is closed: the row is held back (window_closed) or its fallback goes.
MARK_WINDOW_CLOSED: LiteralString = (
    "SELECT wapipe.mark_outbox_window_closed(%(id)s, %(worker_id)s, %(error_code)s, %(reason)s)"
)
USE_WINDOW_FALLBACK: LiteralString = (
    "SELECT wapipe.use_outbox_window_fallback(%(id)s, %(worker_id)s)"
)
MARK_DRY_RUN: LiteralString = "SELECT wapipe.mark_outbox_dry_run(%(id)s, %(worker_id)s)"
RELEASE: LiteralString = (
    "SELECT wapipe.release_outbox(%(ids)s::bigint[], %(worker_id)s, %(retry_after_seconds)s)"
)
START_SEND: LiteralString = (
    "SELECT wapipe.start_outbox_send(%(id)s, %(worker_id)s, %(max_per_window)s, %(per)s::interval)"
)
BREAKER_ALLOW: LiteralString = "SELECT wapipe.breaker_allow(%(name)s)"
BREAKER_RECORD: LiteralString = (
    "SELECT wapipe.breaker_record(%(name)s, %(ok)s, %(duration_ms)s, %(endpoint)s, %(error)s)"
)
