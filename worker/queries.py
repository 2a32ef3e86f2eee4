"""Every statement the worker runs: calls of stored functions with named parameters.

The loop, the handlers and the registry never hold SQL; they call worker.store,
which runs these.
"""

from __future__ import annotations

from typing import LiteralString

CLAIM_MESSAGES: LiteralString = (
    "SELECT msg_id, message_id, wamid, conversation_key, phone_number_id, from_wa_id,"
    " message_type, priority, attempt, payload, contact, correlation_id, locked_until"
    " FROM wapipe.get_next_queue_message(%(worker_id)s, %(lock_seconds)s, %(batch)s)"
)
# The claim plus, for each claimed message, what message_contexts answers for it.
CLAIM_WITH_CONTEXTS: LiteralString = (
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
EXTEND_MESSAGE_LOCK: LiteralString = (
    "SELECT wapipe.acquire_message_lock(%(msg_id)s, %(worker_id)s, %(lock_seconds)s)"
)
RELEASE_MESSAGE_LOCK: LiteralString = (
    "SELECT wapipe.release_message_lock(%(msg_id)s, %(worker_id)s)"
)
SCHEDULE_RETRY: LiteralString = (
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
ROUTED_MESSAGE_CONTEXTS: LiteralString = (
    "SELECT ord, allowed, retry_after_ms, workflow_id, workflow_type, current_step, workflow_data,"
    " workflow_version, agent, memory_id, session_id, memory_messages, memory_context,"
    " breaker_state, handed_off, window_closes_at"
    " FROM wapipe.message_contexts("
    "wapipe.context_items(%(message_ids)s::bigint[], %(rules)s, %(rate_max)s::int),"
    " %(default_agent)s, %(known_agents)s::text[], %(rate_max)s::int, %(rate_per)s::interval)"
)
# One round trip before handling a message: rate limit, active workflow, else agent + memory.
MESSAGE_CONTEXT: LiteralString = (
    "SELECT allowed, retry_after_ms, workflow_id, workflow_type, current_step, workflow_data,"
    " workflow_version, agent, memory_id, session_id, memory_messages, memory_context,"
    " handed_off, window_closes_at"
    " FROM wapipe.message_context(%(user_phone)s, %(default_agent)s, %(known_agents)s::text[],"
    " %(preferred_agent)s, %(rate_key)s, %(rate_max)s::int, %(rate_per)s::interval,"
    " %(conversation_key)s)"
)
# Hand a conversation to a human (or extend its handoff): the agent asked, or a keyword rule.
START_HANDOFF: LiteralString = (
    "SELECT until FROM wapipe.start_handoff(%(conversation_key)s, %(started_by)s, %(reason)s,"
    " %(minutes)s::int)"
)
GET_MEMORY: LiteralString = (
    "SELECT id, session_id, messages, context"
    " FROM wapipe.get_or_create_conversation_memory(%(user_phone)s, %(agent_type)s)"
)
GET_RECENT_AGENT: LiteralString = "SELECT wapipe.get_recent_agent(%(user_phone)s)"
GET_ACTIVE_WORKFLOW: LiteralString = (
    "SELECT id, workflow_type, current_step, data, version"
    " FROM wapipe.get_active_workflow(%(user_phone)s)"
)
CHECK_RATE_LIMIT: LiteralString = (
    "SELECT allowed, remaining, retry_after_ms"
    " FROM wapipe.check_rate_limit(%(key)s, %(max_per_window)s, %(per)s::interval)"
)
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
# pgmq's insert trigger (migration 0007) notifies this channel after a commit.
LISTEN_INBOUND: LiteralString = 'LISTEN "pgmq.q_wapipe_inbound.INSERT"'
# Queue gauges of the worker's /metrics, read at most once per refresh interval.
QUEUE_GAUGES: LiteralString = (
    "SELECT queue_depth, extract(epoch FROM oldest_message_age)::float8, dead_letters,"
    " coalesce(details->'breakers_open', '[]'), coalesce(details->'breakers_half_open', '[]'),"
    " coalesce(details->'deferred_by_service', '{}')"
    " FROM wapipe.system_health()"
)
