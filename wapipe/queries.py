"""Every statement the Python side runs, in one place: calls of stored functions with
named parameters (`%(name)s`), run through wapipe.db.call (or a CLI cursor).

A statement is named after the SQL function (or view, or table) it reads, in capitals:
CLAIM_MESSAGES runs wapipe.claim_messages. When one function is read in more than one
shape, each shape is FUNCTION__USE (SYSTEM_HEALTH__GAUGES). The few statements that
call no wapipe object (LISTEN, the snapshot, yoyo's table, server facts) are listed in
NOT_FUNCTIONS. tests/unit/test_layering.py holds the names to these rules and keeps
SQL out of every other module.
"""

from __future__ import annotations

from typing import LiteralString

# --- the inbound queue (worker) ------------------------------------------------------

# The claim alone (no contexts): each claimed message asks for its own afterwards.
GET_NEXT_QUEUE_MESSAGE: LiteralString = (
    "SELECT msg_id, message_id, wamid, conversation_key, phone_number_id, from_wa_id,"
    " message_type, priority, attempt, payload, contact, correlation_id, locked_until"
    " FROM wapipe.get_next_queue_message(%(worker_id)s, %(lock_seconds)s, %(batch)s)"
)
# The claim plus, for each claimed message, what message_contexts answers for it.
CLAIM_MESSAGES: LiteralString = (
    "SELECT msg_id, message_id, wamid, conversation_key, phone_number_id, from_wa_id,"
    " message_type, priority, attempt, payload, contact, correlation_id, locked_until,"
    " allowed, retry_after_ms, workflow_id, workflow_type, current_step, workflow_data,"
    " workflow_version, agent, memory_id, session_id, memory_messages, memory_context,"
    " breaker_state, burst, handed_off, window_closes_at"
    " FROM wapipe.claim_messages(%(worker_id)s, %(lock_seconds)s, %(batch)s, %(default_agent)s,"
    " %(known_agents)s::text[], %(rules)s, %(rate_max)s::int, %(rate_per)s::interval,"
    " %(coalesce_seconds)s)"
)
# A held head's burst gathered again after a quiet period (debounce), and how long it was quiet.
EXTEND_TURN: LiteralString = (
    "SELECT burst, quiet_seconds"
    " FROM wapipe.extend_turn(%(msg_id)s, %(worker_id)s, %(coalesce_seconds)s::numeric)"
)
ACQUIRE_MESSAGE_LOCK: LiteralString = (
    "SELECT wapipe.acquire_message_lock(%(msg_id)s, %(worker_id)s, %(lock_seconds)s)"
)
RELEASE_MESSAGE_LOCK: LiteralString = (
    "SELECT wapipe.release_message_lock(%(msg_id)s, %(worker_id)s)"
)
SCHEDULE_MESSAGE_RETRY: LiteralString = (
    "SELECT wapipe.schedule_message_retry(%(msg_id)s, %(worker_id)s, %(error)s, %(retryable)s)"
)
# A call that never reached its service: back without spending an attempt.
DEFER_MESSAGE: LiteralString = (
    "SELECT wapipe.defer_message(%(msg_id)s, %(worker_id)s, %(service)s, %(until)s,"
    " %(reason)s, %(max_wait_seconds)s::int)"
)
COMPLETE_MESSAGE: LiteralString = (
    "SELECT message_id, outbox_ids, processing_ms FROM wapipe.complete_message("
    "%(msg_id)s, %(worker_id)s, %(reply)s, %(memory)s, %(workflow)s, %(handled_by)s)"
)
# Many completions in one call; one row per item with its own outcome (worker.store coalesces).
COMPLETE_MESSAGES: LiteralString = (
    "SELECT ord, msg_id, outcome, message_id, outbox_ids, processing_ms, error_code, error"
    " FROM wapipe.complete_messages(%(worker_id)s, %(items)s)"
)
# message_context for many messages at once, plus the chosen agent's stored breaker state.
MESSAGE_CONTEXTS: LiteralString = (
    "SELECT ord, allowed, retry_after_ms, workflow_id, workflow_type, current_step, workflow_data,"
    " workflow_version, agent, memory_id, session_id, memory_messages, memory_context,"
    " breaker_state, handed_off, window_closes_at"
    " FROM wapipe.message_contexts(%(items)s, %(default_agent)s, %(known_agents)s::text[],"
    " %(rate_max)s::int, %(rate_per)s::interval)"
)
# The same for messages claimed without their contexts: the database routes them by the
# claim's rule (context_items: keyword agent, rate key), the worker does not.
MESSAGE_CONTEXTS__ROUTED: LiteralString = (
    "SELECT ord, allowed, retry_after_ms, workflow_id, workflow_type, current_step, workflow_data,"
    " workflow_version, agent, memory_id, session_id, memory_messages, memory_context,"
    " breaker_state, handed_off, window_closes_at"
    " FROM wapipe.message_contexts("
    "wapipe.context_items(%(message_ids)s::bigint[], %(rules)s, %(rate_max)s::int),"
    " %(default_agent)s, %(known_agents)s::text[], %(rate_max)s::int, %(rate_per)s::interval)"
)
# A message the user's active workflow did not take: the agent and memory it would get
# without the workflow, by the same rule (context_items with bypass_workflow: keyword
# agent, sticky agent, default; no second rate token).
MESSAGE_CONTEXTS__BYPASS_WORKFLOW: LiteralString = (
    "SELECT ord, allowed, retry_after_ms, workflow_id, workflow_type, current_step, workflow_data,"
    " workflow_version, agent, memory_id, session_id, memory_messages, memory_context,"
    " breaker_state, handed_off, window_closes_at"
    " FROM wapipe.message_contexts("
    "wapipe.context_items(%(message_ids)s::bigint[], %(rules)s, NULL::int, true),"
    " %(default_agent)s, %(known_agents)s::text[])"
)
# Whether a text holds a handoff keyword: the routing matcher, one rule per keyword.
KEYWORD_AGENT: LiteralString = "SELECT wapipe.keyword_agent(%(body)s, %(rules)s)"
# One round trip before handling a message: rate limit, active workflow, else agent + memory.
MESSAGE_CONTEXT: LiteralString = (
    "SELECT allowed, retry_after_ms, workflow_id, workflow_type, current_step, workflow_data,"
    " workflow_version, agent, memory_id, session_id, memory_messages, memory_context,"
    " handed_off, window_closes_at"
    " FROM wapipe.message_context(%(user_phone)s, %(default_agent)s, %(known_agents)s::text[],"
    " %(preferred_agent)s, %(rate_key)s, %(rate_max)s::int, %(rate_per)s::interval,"
    " %(conversation_key)s)"
)
GET_OR_CREATE_CONVERSATION_MEMORY: LiteralString = (
    "SELECT id, session_id, messages, context"
    " FROM wapipe.get_or_create_conversation_memory(%(user_phone)s, %(agent_type)s)"
)
GET_ACTIVE_WORKFLOW: LiteralString = (
    "SELECT id, workflow_type, current_step, data, version"
    " FROM wapipe.get_active_workflow(%(user_phone)s)"
)
CHECK_RATE_LIMIT: LiteralString = (
    "SELECT allowed, remaining, retry_after_ms"
    " FROM wapipe.check_rate_limit(%(key)s, %(max_per_window)s, %(per)s::interval)"
)
# pgmq's insert trigger (migration 0007) notifies this channel after a commit.
LISTEN_INBOUND: LiteralString = 'LISTEN "pgmq.q_wapipe_inbound.INSERT"'

# --- handoffs (worker: an agent or keyword asked; CLI: an operator) ------------------

START_HANDOFF: LiteralString = (
    "SELECT id, until, started_at, extended_at FROM wapipe.start_handoff("
    "%(conversation_key)s, %(started_by)s, %(reason)s, %(minutes)s::int)"
)
END_HANDOFF: LiteralString = "SELECT wapipe.end_handoff(%(conversation_key)s, %(by)s)"
LIST_HANDOFFS: LiteralString = (
    "SELECT id, conversation_key, user_key, started_at, started_by, reason, until, ended_at,"
    " ended_by, active FROM wapipe.list_handoffs(%(all)s, %(limit)s)"
)
# Conversations a human has now (issue 17); the status page masks the user keys.
LIST_HANDOFFS__STATUS_PAGE: LiteralString = (
    "SELECT conversation_key, started_at, started_by, until FROM wapipe.list_handoffs(false, 50)"
)
RESOLVE_CONVERSATION: LiteralString = (
    "SELECT conversation_key, phone_number_id, user_key"
    " FROM wapipe.resolve_conversation(%(user)s, %(number)s)"
)
QUEUE_OPERATOR_MESSAGE: LiteralString = (
    "SELECT outbox_id, queued, status FROM wapipe.queue_operator_message("
    "%(conversation_key)s, %(body)s, %(key)s, %(by)s)"
)
CONVERSATION_WINDOW: LiteralString = (
    "SELECT closes_at, open FROM wapipe.conversation_window(%(conversation_key)s)"
)
OUTBOX__STATUS: LiteralString = (
    "SELECT status, error_code, last_error, window_fallback_at FROM wapipe.outbox WHERE id = %(id)s"
)
OUTBOX__WINDOW_CLOSED_COUNT: LiteralString = (
    "SELECT count(*) FROM wapipe.outbox o WHERE o.status = 'window_closed'"
    " AND o.created_at > now() - make_interval(hours => %(hours)s)"
)
OUTBOX__WINDOW_CLOSED_LIST: LiteralString = (
    "SELECT o.id, o.created_at, o.phone_number_id, o.to_wa_id, o.source_key,"
    " o.body->>'type' AS type,"
    " o.error_code, o.last_error FROM wapipe.outbox o WHERE o.status = 'window_closed'"
    " AND o.created_at > now() - make_interval(hours => %(hours)s)"
    " ORDER BY o.created_at DESC, o.id DESC LIMIT %(limit)s"
)

# --- breakers, endpoint health, the worker registry ---------------------------------

BREAKER_CONFIGURE: LiteralString = (
    "SELECT wapipe.breaker_configure(%(name)s, %(kind)s, %(failure_rate)s::numeric,"
    " %(open_seconds)s::int, %(window_seconds)s::int, %(min_calls)s::int,"
    " %(half_open_calls)s::int)"
)
BREAKER_ALLOW: LiteralString = "SELECT wapipe.breaker_allow(%(name)s)"
BREAKER_RECORD: LiteralString = (
    "SELECT wapipe.breaker_record(%(name)s, %(ok)s, %(duration_ms)s, %(endpoint)s, %(error)s)"
)
# Successes of calls made while the breaker was closed, recorded once a second per
# worker: one transaction (one bucket update, one insert) instead of one per call on
# the breaker's hot bucket row.
BREAKER_RECORD_SUCCESSES: LiteralString = (
    "SELECT wapipe.breaker_record_successes(%(name)s, %(durations_ms)s::int[], %(endpoint)s)"
)
REGISTER_WORKER: LiteralString = (
    "SELECT wapipe.register_worker(%(worker_id)s, %(host)s, %(pid)s, %(info)s)"
)
WORKER_HEARTBEAT: LiteralString = "SELECT wapipe.worker_heartbeat(%(worker_id)s)"
WORKER_STOPPED: LiteralString = "SELECT wapipe.worker_stopped(%(worker_id)s)"
RECORD_ENDPOINT_HEALTH: LiteralString = (
    "SELECT wapipe.record_endpoint_health(%(service)s, %(endpoint)s, %(healthy)s, %(error)s,"
    " %(checked_by)s)"
)
ADMIT_TYPING_INDICATOR: LiteralString = (
    "SELECT verdict, granted, retry_after_ms FROM wapipe.admit_typing_indicator("
    "%(phone_number_id)s, %(breaker)s, %(max_per_window)s, %(per)s::interval, %(tokens)s)"
)

# --- media ---------------------------------------------------------------------------

CLAIM_MEDIA: LiteralString = (
    "SELECT media_id, status, claimed, mime_type, size_bytes, sha256, error, wait_ms"
    " FROM wapipe.claim_media(%(wamid)s, %(phone_number_id)s, %(media_type)s, %(source)s,"
    " %(worker_id)s, %(lease_seconds)s)"
)
STORE_MEDIA: LiteralString = (
    "SELECT wapipe.store_media(%(media_id)s, %(worker_id)s, %(content)s, %(mime_type)s)"
)
FAIL_MEDIA: LiteralString = (
    "SELECT wapipe.fail_media(%(media_id)s, %(worker_id)s, %(outcome)s, %(error)s,"
    " %(size_bytes)s, %(mime_type)s)"
)
MEDIA_CONTENT: LiteralString = (
    "SELECT content, mime_type, filename, size_bytes FROM wapipe.media_content(%(media_id)s)"
)

# --- the outbox sender ---------------------------------------------------------------

CLAIM_OUTBOX: LiteralString = (
    "SELECT id, phone_number_id, to_wa_id, body, attempts, correlation_id, window_open,"
    " locked_until FROM wapipe.claim_outbox(%(worker_id)s, %(batch)s, %(lock_seconds)s)"
)
MARK_OUTBOX_SENT: LiteralString = "SELECT wapipe.mark_outbox_sent(%(id)s, %(worker_id)s, %(wamid)s)"
MARK_OUTBOX_FAILED: LiteralString = (
    "SELECT wapipe.mark_outbox_failed(%(id)s, %(worker_id)s, %(error_code)s, %(error)s,"
    " %(retryable)s, %(retry_after_seconds)s)"
)
MARK_OUTBOX_UNKNOWN: LiteralString = (
    "SELECT wapipe.mark_outbox_unknown(%(id)s, %(worker_id)s, %(error)s)"
)
# The 24-hour window is closed: the row is held back (window_closed) or its fallback goes.
MARK_OUTBOX_WINDOW_CLOSED: LiteralString = (
    "SELECT wapipe.mark_outbox_window_closed(%(id)s, %(worker_id)s, %(error_code)s, %(reason)s)"
)
USE_OUTBOX_WINDOW_FALLBACK: LiteralString = (
    "SELECT wapipe.use_outbox_window_fallback(%(id)s, %(worker_id)s)"
)
MARK_OUTBOX_DRY_RUN: LiteralString = "SELECT wapipe.mark_outbox_dry_run(%(id)s, %(worker_id)s)"
RELEASE_OUTBOX: LiteralString = (
    "SELECT wapipe.release_outbox(%(ids)s::bigint[], %(worker_id)s, %(retry_after_seconds)s)"
)
START_OUTBOX_SEND: LiteralString = (
    "SELECT wapipe.start_outbox_send(%(id)s, %(worker_id)s, %(max_per_window)s, %(per)s::interval)"
)

# --- the ingress ---------------------------------------------------------------------

# The payload travels as the JSON text already validated in Python and is parsed
# once by PostgreSQL; Jsonb(obj) would re-serialise it in Python first (not
# benchmarked separately: the database side dominates, see bench.ingress).
INGEST_WEBHOOK: LiteralString = (
    "SELECT event_id, new_messages, duplicates, statuses, errors "
    "FROM wapipe.ingest_webhook(%(payload)s::jsonb, %(correlation_id)s)"
)
# Group commit (ingress.store.IngestBatcher): several POSTs, one call, one transaction.
# The payloads travel as one JSON array, joined from the checked texts: a text[] would
# be escaped character by character in Python first.
INGEST_WEBHOOKS: LiteralString = (
    "SELECT ord, event_id, new_messages, duplicates, statuses, errors "
    "FROM wapipe.ingest_webhooks(ARRAY(SELECT p FROM jsonb_array_elements(%(payloads)s::jsonb)"
    " WITH ORDINALITY AS t(p, i) ORDER BY i), %(correlation_ids)s::text[])"
)

# --- monitoring: the worker's gauges, GET /status, `wapipe health|workers` -----------

# Queue gauges of the worker's /metrics, read at most once per refresh interval.
SYSTEM_HEALTH__GAUGES: LiteralString = (
    "SELECT queue_depth, extract(epoch FROM oldest_message_age)::float8, dead_letters,"
    " coalesce(details->'breakers_open', '[]'), coalesce(details->'breakers_half_open', '[]'),"
    " coalesce(details->'deferred_by_service', '{}')"
    " FROM wapipe.system_health()"
)
# GET /status (ingress/status.py): read-only monitoring calls; the database user
# needs the wapipe_monitor role for them (the ingress role alone may only ingest).
SYSTEM_HEALTH__STATUS_PAGE: LiteralString = (
    "SELECT status, reasons, queue_depth, extract(epoch FROM oldest_message_age)::float8,"
    " in_flight, retrying, dead_letters, breakers_open, workers_alive, stuck_workflows,"
    " cron_failures_last_hour, last_cron_run, now() FROM wapipe.system_health()"
)
STATUS_PAGE_SERIES: LiteralString = (
    "SELECT minute, messages_in, messages_out, dead_letters, failed_attempts, queue_depth, p95_ms"
    " FROM wapipe.status_page_series(%(minutes)s)"
)
CIRCUIT_BREAKER_STATUS: LiteralString = (
    "SELECT name, kind, state, since, window_calls, window_failures, window_failure_rate,"
    " times_opened, healthy_endpoints, total_endpoints, deferred_messages"
    " FROM wapipe.circuit_breaker_status"
)
SYSTEM_HEALTH: LiteralString = (
    "SELECT status, reasons, queue_depth, oldest_message_age, in_flight, retrying, dead_letters,"
    " breakers_open, workers_alive, stuck_workflows, cron_failures_last_hour, last_cron_run,"
    " details FROM wapipe.system_health(%(thresholds)s)"
)
WORKER_STATUS: LiteralString = (
    "SELECT worker_id, host, pid, state, started_at, heartbeat_at, heartbeat_age, stopped_at,"
    " uptime, held_conversations, info FROM wapipe.worker_status"
)

# --- dead letters and quarantine (`wapipe dlq`, `wapipe quarantine`: the schema owner) --

# `dlq list` and `dlq replay --all-matching` read the pending dead letters (what
# requeue_dead_letters accepts) from the one function that holds that rule.
_PENDING_DEAD_LETTERS: LiteralString = (
    " FROM wapipe.pending_dead_letters(error_code => %(error_code)s,"
    " message_type => %(message_type)s, since => %(since)s::timestamptz) d"
)
PENDING_DEAD_LETTERS__LIST: LiteralString = (
    "SELECT d.id, d.dead_at, d.message_type, coalesce(d.error_code, '') AS error_code,"
    " left(split_part(coalesce(d.last_error, ''), E'\\n', 1), 200) AS error, d.attempts,"
    " d.conversation_key, d.wamid"
    + _PENDING_DEAD_LETTERS
    + " ORDER BY d.dead_at, d.id LIMIT %(limit)s"
)
PENDING_DEAD_LETTERS__COUNT: LiteralString = "SELECT count(*)" + _PENDING_DEAD_LETTERS
PENDING_DEAD_LETTERS__IDS: LiteralString = (
    "SELECT d.id" + _PENDING_DEAD_LETTERS + " ORDER BY d.dead_at, d.id"
)
DEAD_LETTERS__SHOW: LiteralString = (
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
_HELD_QUARANTINE: LiteralString = (
    " FROM wapipe.quarantine x WHERE x.status = ANY (%(states)s)"
    " AND (%(reason)s::text IS NULL OR x.reason ILIKE %(reason)s)"
)
QUARANTINE__LIST: LiteralString = (
    "SELECT x.id, x.received_at, x.status, x.path, x.reason, x.webhook_event_id"
    + _HELD_QUARANTINE
    + " ORDER BY x.received_at, x.id LIMIT %(limit)s"
)
QUARANTINE__COUNT: LiteralString = "SELECT count(*)" + _HELD_QUARANTINE
QUARANTINE__SHOW: LiteralString = (
    "SELECT x.id, x.received_at, x.status, x.path, x.reason, x.webhook_event_id, x.resolved_at,"
    " x.replay_event_id, x.item, x.replay_payload FROM wapipe.quarantine x WHERE x.id = %(id)s"
)
REPLAY_QUARANTINE: LiteralString = (
    "SELECT quarantine_id, outcome, event_id FROM wapipe.replay_quarantine("
    "ids => %(ids)s, reason_like => %(reason)s, dry_run => %(dry_run)s,"
    " max_count => %(max_count)s)"
)
DISCARD_QUARANTINE: LiteralString = (
    "SELECT wapipe.discard_quarantine(ids => %(ids)s, reason_like => %(reason)s)"
)

# --- statements that call no wapipe object ------------------------------------------

# Readiness: migrations yoyo has applied (compared with db/schema/ on disk).
APPLIED_MIGRATIONS: LiteralString = "SELECT migration_id FROM public._yoyo_migration"
READ_ONLY_SNAPSHOT: LiteralString = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
SERVER_VERSION: LiteralString = "SHOW server_version"
EXTENSIONS: LiteralString = "SELECT extname || ' ' || extversion FROM pg_extension ORDER BY 1"

NOT_FUNCTIONS = frozenset(
    {"LISTEN_INBOUND", "APPLIED_MIGRATIONS", "READ_ONLY_SNAPSHOT", "SERVER_VERSION", "EXTENSIONS"}
)
