"""Every statement the operator commands (`wapipe health`, `wapipe dlq`, `wapipe workers`) run.

Health and workers read a stored function and a view (both granted to wapipe_monitor).
The dead-letter commands are for the schema owner only, like
wapipe.requeue_dead_letters itself: they list and show dead letters straight from
wapipe.pending_dead_letters / wapipe.dead_letters (no role but the owner may read
them) and replay through requeue_dead_letters, which does all the work.
"""

from __future__ import annotations

from typing import LiteralString

SYSTEM_HEALTH: LiteralString = (
    "SELECT status, reasons, queue_depth, oldest_message_age, in_flight, retrying, dead_letters,"
    " breakers_open, workers_alive, stuck_workflows, cron_failures_last_hour, last_cron_run,"
    " details FROM wapipe.system_health(%(thresholds)s)"
)

WORKER_STATUS: LiteralString = (
    "SELECT worker_id, host, pid, state, started_at, heartbeat_at, heartbeat_age, stopped_at,"
    " uptime, held_conversations, info FROM wapipe.worker_status"
)

# `dlq list` and `dlq replay --all-matching` read the pending dead letters (what
# requeue_dead_letters accepts) from the one function that holds that rule.
_DLQ_PENDING: LiteralString = (
    " FROM wapipe.pending_dead_letters(error_code => %(error_code)s,"
    " message_type => %(message_type)s, since => %(since)s::timestamptz) d"
)

DLQ_LIST: LiteralString = (
    "SELECT d.id, d.dead_at, d.message_type, coalesce(d.error_code, '') AS error_code,"
    " left(split_part(coalesce(d.last_error, ''), E'\\n', 1), 200) AS error, d.attempts,"
    " d.conversation_key, d.wamid" + _DLQ_PENDING + " ORDER BY d.dead_at, d.id LIMIT %(limit)s"
)

DLQ_COUNT: LiteralString = "SELECT count(*)" + _DLQ_PENDING

DLQ_MATCHING_IDS: LiteralString = "SELECT d.id" + _DLQ_PENDING + " ORDER BY d.dead_at, d.id"

DLQ_SHOW: LiteralString = (
    "SELECT d.id, d.message_id, d.wamid, d.conversation_key, d.message_type, d.queue_msg_id,"
    " d.last_error, d.error_code, d.error_history, d.attempts, d.dead_at, d.replayed_at,"
    " d.correlation_id, m.status AS message_status, m.received_at, m.priority, m.payload"
    " FROM wapipe.dead_letters d LEFT JOIN wapipe.processed_messages m ON m.id = d.message_id"
    " WHERE d.id = %(id)s"
)

REQUEUE_DEAD_LETTERS: LiteralString = (
    "SELECT dead_letter_id, message_id, wamid, msg_id FROM wapipe.requeue_dead_letters("
    "ids => %(ids)s, max_count => %(max_count)s, dry_run => %(dry_run)s)"
)
