-- wapipe operator health checks: fourteen ready-to-run queries over the wapipe tables and views.
--
-- Run them in psql as the schema owner (`wapipe db psql`, or psql "$DATABASE_URL"):
--   \i monitoring/webhook-health-checks.sql            all of them
-- or copy one block. Each block starts with a marker line `-- ==== N. title`, then
-- says what it shows, what "bad" looks like, what to do, and which index keeps it
-- fast on millions of rows (plans checked with EXPLAIN on 300 000+ rows; the indexes
-- are in db/schema/0002_core_tables.sql and 0011_ops_indexes.sql).
-- Queries 2 and 14 use only what the wapipe_monitor role may read (a view, system_health());
-- the others read tables, which only the owner can (RLS + no grants).
-- Phone numbers are shown masked (250788***456).

-- ==== 1. stuck workflows
-- Shows:   active workflows past their timeout (expires_at) or not advanced for 15 minutes,
--          oldest deadline first, with how long they have been idle / overdue.
-- Bad:     any row with why = 'past timeout' and overdue_by over 2 minutes: the
--          wapipe-expire-workflows pg_cron job (every minute) is not running or failing.
--          Many 'idle' rows at the same step: users give up there (a step that confuses them,
--          or an answer the bot never sends).
-- Do:      check query 14 (pg_cron failures) and `SELECT * FROM cron.job_run_details WHERE jobid =
--          (SELECT jobid FROM cron.job WHERE jobname = 'wapipe-expire-workflows') ORDER BY start_time DESC LIMIT 5`;
--          run `SELECT * FROM wapipe.expire_workflows()` by hand; look at the step the idle ones sit in.
-- Index:   workflow_states_one_active_per_user and workflow_states_expiry_idx are partial on
--          status = 'active': the scan reads active workflows only, never the finished history.
SELECT w.id,
       w.workflow_type,
       w.current_step,
       left(w.user_phone, 6) || '***' || right(w.user_phone, 3) AS user_phone,
       CASE WHEN w.expires_at <= now() THEN 'past timeout' ELSE 'idle' END AS why,
       w.started_at,
       w.updated_at AS last_advanced_at,
       date_trunc('second', now() - w.updated_at) AS idle_for,
       w.expires_at,
       CASE WHEN w.expires_at <= now() THEN date_trunc('second', now() - w.expires_at) END AS overdue_by,
       w.version AS steps_taken
FROM wapipe.workflow_states w
WHERE w.status = 'active'
  AND (w.expires_at <= now() OR w.updated_at < now() - interval '15 minutes')
ORDER BY w.expires_at, w.id
LIMIT 200;

-- ==== 2. message queue health
-- Shows:   the inbound queue per priority (9 first): queued, processing (claimed), retrying
--          (queued after a failed attempt), dead (pending dead letters), pgmq depth/visible and
--          the age of the oldest queued message. A final row 'all' adds them up.
-- Bad:     oldest_queued_age over a minute (workers cannot keep up or none run); retrying
--          growing (an agent or the Graph API failing); pgmq_depth <> unfinished (pgmq and the
--          bookkeeping out of step, should never happen); low priorities with a much older
--          oldest_queued_age than high ones is expected only within claim.priority_aging_seconds.
-- Do:      `wapipe workers` (are workers alive?), query 11 (breakers), query 8 (errors); add
--          workers (docs/OPERATIONS.md, scaling out).
-- Index:   the view reads processed_messages_unfinished_idx (partial: processed_at IS NULL,
--          i.e. queued/processing only), dead_letters_pending_idx (their messages by primary
--          key) and the pgmq queue table, whose size is the backlog only.
SELECT coalesce(h.priority::text, 'all') AS priority,
       sum(h.queued) AS queued,
       sum(h.processing) AS processing,
       sum(h.retrying) AS retrying,
       sum(h.dead) AS dead,
       sum(h.unfinished) AS unfinished,
       sum(h.pgmq_depth) AS pgmq_depth,
       sum(h.pgmq_visible) AS pgmq_visible,
       min(h.oldest_queued_at) AS oldest_queued_at,
       date_trunc('second', max(h.oldest_queued_age)) AS oldest_queued_age
FROM wapipe.message_queue_health h
GROUP BY ROLLUP (h.priority)
ORDER BY h.priority DESC NULLS LAST;

-- ==== 3. dead-letter analysis
-- Shows:   pending (not replayed) dead letters grouped by error code, by message type, and in
--          total: how many, how many can be replayed (their message is still dead), the oldest
--          and newest, and the id of the oldest (for `wapipe dlq show ID`).
-- Bad:     any pending dead letter is a user who got no answer. One error dominating = one cause
--          (an agent down, a bad deploy); a type dominating = a handler that cannot cope with it.
-- Do:      fix the cause first, then replay: `wapipe dlq replay --all-matching --error-code CODE --dry-run`,
--          then without --dry-run (or SELECT * FROM wapipe.requeue_dead_letters(error_like => ..., since => ...)).
--          Non-retryable errors (bad input) are not worth replaying.
-- Index:   dead_letters_pending_idx (partial: replayed_at IS NULL) holds only the pending rows;
--          the join to processed_messages is by primary key.
WITH pending AS (
  SELECT d.id, d.message_type, d.dead_at,
         coalesce(d.error_code, left(nullif(split_part(d.last_error, E'\n', 1), ''), 80), '(no error)')
           AS error,
         coalesce(m.status = 'dead', false) AS replayable
  FROM wapipe.dead_letters d
  LEFT JOIN wapipe.processed_messages m ON m.id = d.message_id
  WHERE d.replayed_at IS NULL
)
SELECT CASE WHEN grouping(p.error) = 0 THEN 'by error'
            WHEN grouping(p.message_type) = 0 THEN 'by type' ELSE 'total' END AS grouped,
       p.error,
       p.message_type,
       count(*) AS dead_letters,
       count(*) FILTER (WHERE p.replayable) AS replayable,
       min(p.dead_at) AS oldest,
       date_trunc('second', now() - min(p.dead_at)) AS oldest_age,
       max(p.dead_at) AS newest,
       (array_agg(p.id ORDER BY p.dead_at, p.id))[1] AS oldest_id
FROM pending p
GROUP BY GROUPING SETS ((p.error), (p.message_type), ())
ORDER BY grouping(p.error), grouping(p.message_type), count(*) DESC, 2, 3;

-- ==== 4. AI agent performance
-- Shows:   per AI agent (breakers of kind 'agent'), over the last 24 hours of calls: calls,
--          failures, failure rate, p50/p95/p99 and max latency in ms, last call, breaker state.
-- Bad:     failure_rate above 0.1, or near the breaker's 0.6; p95 approaching the agent timeout
--          (120 s by default): calls will start timing out and retrying.
-- Do:      query 8 for the errors; query 11 for the breaker and endpoint health; ask the agent's
--          owner; raise its timeout or lower concurrency in WAPIPE_CONFIG if it is just slow.
-- Index:   service_calls_service_idx (service, called_at): one range scan per agent.
SELECT b.name AS agent,
       b.state AS breaker_state,
       count(sc.id) AS calls,
       count(sc.id) FILTER (WHERE NOT sc.ok) AS failures,
       round(count(sc.id) FILTER (WHERE NOT sc.ok)::numeric / nullif(count(sc.id), 0), 4) AS failure_rate,
       round(percentile_cont(0.50) WITHIN GROUP (ORDER BY sc.duration_ms)::numeric, 1) AS p50_ms,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY sc.duration_ms)::numeric, 1) AS p95_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY sc.duration_ms)::numeric, 1) AS p99_ms,
       max(sc.duration_ms) AS max_ms,
       max(sc.called_at) AS last_call_at
FROM wapipe.breakers b
LEFT JOIN wapipe.service_calls sc
  ON sc.service = b.name AND sc.called_at > now() - interval '24 hours'
WHERE b.kind = 'agent'
GROUP BY b.name, b.state
ORDER BY failure_rate DESC NULLS LAST, calls DESC, agent;

-- ==== 5. conversation state health
-- Shows:   leased (locked) conversations per holder: how many, how many leases already expired,
--          the oldest lock age, the latest expiry, and whether the holder is a live worker.
--          A final row 'all holders' adds them up.
-- Bad:     holder_state 'dead' or 'unknown' with live leases (a crashed worker: its messages
--          wait until the lease expires); expired leases older than 5 minutes (query 12);
--          a lock age far beyond the agent timeout (a worker hung inside a call).
-- Do:      a dead worker's leases expire by themselves (lock_seconds) and wapipe-stale-locks
--          clears them; to release now: SELECT wapipe.cleanup_stale_message_locks('0 seconds').
-- Index:   none: one pass over conversations (no index holds the lease columns, so that
--          claims stay HOT updates: migration 0020).
SELECT coalesce(c.locked_by, 'all holders') AS holder,
       CASE WHEN grouping(c.locked_by) = 1 THEN NULL
            WHEN max(w.worker_id) IS NULL THEN 'unknown'
            WHEN max(w.stopped_at) IS NOT NULL THEN 'stopped'
            WHEN max(w.heartbeat_at) > now() - interval '30 seconds' THEN 'alive'
            ELSE 'dead' END AS holder_state,
       count(*) AS locked_conversations,
       count(*) FILTER (WHERE c.locked_until <= now()) AS expired_leases,
       date_trunc('second', max(now() - c.locked_at)) AS oldest_lock_age,
       max(c.locked_until) AS latest_expiry,
       min(c.locked_until) AS earliest_expiry
FROM wapipe.conversations c
LEFT JOIN wapipe.workers w ON w.worker_id = c.locked_by
WHERE c.locked_by IS NOT NULL
GROUP BY ROLLUP (c.locked_by)
ORDER BY grouping(c.locked_by), oldest_lock_age DESC, holder;

-- ==== 6. message processing latency
-- Shows:   over the last hour, p50/p95/p99 and max in seconds of: received -> completed
--          (processed_messages.processed_at of done messages), the worker's own handling time
--          (processing_ms), and received -> reply sent (outbox.sent_at, Meta accepted it).
-- Bad:     received_to_completed p95 above a few seconds when agents are fast: messages wait in
--          the queue (not enough workers, backoff); reply_sent much later than completed: the
--          sender is slow (Graph API rate limits, 131056 pair backoff, sender breaker open).
-- Do:      compare with query 2 (backlog) and query 4 (agent latency); scale workers; check the
--          sender's breaker (query 11) and wapipe_sender_results_total in Grafana.
-- Index:   processed_messages_finished_idx (processed_at, partial: finished) and
--          outbox_sent_at_brin (sent_at, 0028); each reply's message by primary key.
SELECT s.stage,
       count(*) AS messages,
       round(percentile_cont(0.50) WITHIN GROUP (ORDER BY s.seconds)::numeric, 3) AS p50_s,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY s.seconds)::numeric, 3) AS p95_s,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY s.seconds)::numeric, 3) AS p99_s,
       round(max(s.seconds)::numeric, 3) AS max_s
FROM (
  SELECT '1 received -> completed' AS stage, extract(epoch FROM m.processed_at - m.received_at) AS seconds
  FROM wapipe.processed_messages m
  WHERE m.status = 'done' AND m.processed_at > now() - interval '1 hour'
  UNION ALL
  SELECT '2 worker handling (processing_ms)', m.processing_ms / 1000.0
  FROM wapipe.processed_messages m
  WHERE m.status = 'done' AND m.processed_at > now() - interval '1 hour' AND m.processing_ms IS NOT NULL
  UNION ALL
  -- a primary-key lookup per reply (a join could hash the whole table)
  SELECT '3 received -> reply sent',
         extract(epoch FROM o.sent_at - (SELECT m.received_at FROM wapipe.processed_messages m
                                         WHERE m.id = o.source_message_id))
  FROM wapipe.outbox o
  WHERE o.sent_at > now() - interval '1 hour' AND o.seq = 0 AND o.source_message_id IS NOT NULL
) s
GROUP BY s.stage
ORDER BY s.stage;

-- ==== 7. error rate by hour
-- Shows:   the last 24 hours, one row per hour (empty hours included): messages received,
--          how many of them failed at least one attempt, dead-lettered messages, the message
--          error rate, calls to external services (agents, Graph API) and their failure rate,
--          and replies the sender gave up on.
-- Bad:     message_error_rate above a few percent, or a sudden step up at one hour (a deploy,
--          an agent outage); service_failure_rate above the breakers' thresholds (0.5 / 0.6).
-- Do:      query 8 for what the errors are; correlate with deploys; query 11 for breakers.
-- Index:   processed_messages_received_at_brin, dead_letters_dead_at_idx,
--          service_calls_called_at_brin, outbox_created_at_brin: each a 24-hour range scan
--          (~100 ms on 400 000 rows per table; PostgreSQL may JIT-compile it first: SET jit = off).
WITH hours AS (
  SELECT generate_series(date_trunc('hour', now()) - interval '23 hours', date_trunc('hour', now()),
                         interval '1 hour') AS hour
), received AS (
  SELECT date_trunc('hour', m.received_at) AS hour, count(*) AS received,
         count(*) FILTER (WHERE jsonb_array_length(m.error_history) > 0) AS with_errors
  FROM wapipe.processed_messages m
  WHERE m.received_at >= date_trunc('hour', now()) - interval '23 hours'
  GROUP BY 1
), dead AS (
  SELECT date_trunc('hour', d.dead_at) AS hour, count(*) AS dead
  FROM wapipe.dead_letters d
  WHERE d.dead_at >= date_trunc('hour', now()) - interval '23 hours'
  GROUP BY 1
), calls AS (
  SELECT date_trunc('hour', sc.called_at) AS hour, count(*) AS calls, count(*) FILTER (WHERE NOT sc.ok) AS failed
  FROM wapipe.service_calls sc
  WHERE sc.called_at >= date_trunc('hour', now()) - interval '23 hours'
  GROUP BY 1
), replies AS (
  SELECT date_trunc('hour', o.created_at) AS hour, count(*) FILTER (WHERE o.status = 'failed') AS failed
  FROM wapipe.outbox o
  WHERE o.created_at >= date_trunc('hour', now()) - interval '23 hours'
  GROUP BY 1
)
SELECT h.hour,
       coalesce(r.received, 0) AS received,
       coalesce(r.with_errors, 0) AS messages_with_errors,
       coalesce(d.dead, 0) AS dead_lettered,
       round(coalesce(r.with_errors, 0)::numeric / nullif(r.received, 0), 4) AS message_error_rate,
       coalesce(c.calls, 0) AS service_calls,
       coalesce(c.failed, 0) AS service_failures,
       round(coalesce(c.failed, 0)::numeric / nullif(c.calls, 0), 4) AS service_failure_rate,
       coalesce(o.failed, 0) AS replies_failed
FROM hours h
LEFT JOIN received r ON r.hour = h.hour
LEFT JOIN dead d ON d.hour = h.hour
LEFT JOIN calls c ON c.hour = h.hour
LEFT JOIN replies o ON o.hour = h.hour
ORDER BY h.hour DESC;

-- ==== 8. top errors in the last hour
-- Shows:   the 20 most frequent errors of the last hour across every source: failed message
--          attempts (error_history), failed calls to services (per service), replies the sender
--          could not deliver (Graph API code), and account errors Meta sent in webhooks; with
--          how often, how many distinct messages/services, first and last seen.
-- Bad:     anything at the top with hundreds of occurrences; 131047 (24-hour window closed)
--          means replies come too late; 190 means the access token expired.
-- Do:      fix the named cause; a service error -> query 11; a Graph API 190 -> rotate
--          WHATSAPP_ACCESS_TOKEN; agent timeouts -> query 4.
-- Index:   processed_messages_unfinished_idx + processed_messages_finished_idx (only messages
--          still open or finished in the last hour are unnested), service_calls_called_at_brin,
--          outbox_created_at_brin, webhook_errors_received_at_idx.
WITH attempts AS (
  SELECT m.id, e
  FROM wapipe.processed_messages m, jsonb_array_elements(m.error_history) e
  WHERE m.processed_at IS NULL  -- queued or processing
  UNION ALL
  SELECT m.id, e
  FROM wapipe.processed_messages m, jsonb_array_elements(m.error_history) e
  WHERE m.processed_at > now() - interval '1 hour'  -- done or dead
), errors AS (
  SELECT 'message attempt' AS source, left(split_part(a.e->>'error', E'\n', 1), 120) AS error,
         a.id::text AS subject, (a.e->>'at')::timestamptz AS at
  FROM attempts a
  WHERE (a.e->>'at')::timestamptz > now() - interval '1 hour'
  UNION ALL
  SELECT 'service call ' || sc.service, left(split_part(coalesce(sc.error, 'failed'), E'\n', 1), 120),
         coalesce(sc.endpoint, sc.service), sc.called_at
  FROM wapipe.service_calls sc
  WHERE sc.called_at > now() - interval '1 hour' AND NOT sc.ok
  UNION ALL
  SELECT 'reply send', coalesce(o.error_code::text || ': ', '') || left(split_part(o.last_error, E'\n', 1), 100),
         o.id::text, o.created_at
  FROM wapipe.outbox o
  WHERE o.created_at > now() - interval '1 hour' AND o.last_error IS NOT NULL
  UNION ALL
  SELECT 'webhook error', coalesce(we.code::text || ': ', '') || coalesce(we.title, we.message, '?'),
         coalesce(we.phone_number_id, '?'), we.received_at
  FROM wapipe.webhook_errors we
  WHERE we.received_at > now() - interval '1 hour'
)
SELECT e.source,
       e.error,
       count(*) AS occurrences,
       count(DISTINCT e.subject) AS distinct_subjects,
       min(e.at) AS first_seen,
       max(e.at) AS last_seen
FROM errors e
GROUP BY e.source, e.error
ORDER BY occurrences DESC, last_seen DESC
LIMIT 20;

-- ==== 9. workflow completion rates
-- Shows:   per workflow type, over workflows started in the last 7 days: started, still active,
--          completed, failed, expired, completion rate (completed / finished), median and p95
--          duration of completed ones, and the step where most abandoned (expired) ones stopped.
-- Bad:     a completion rate falling from its usual level; many expired at one step (users drop
--          out there); failed rising (the workflow's handler raises).
-- Do:      look at the step in most_abandoned_step; read failed rows' error
--          (SELECT error, count(*) FROM wapipe.workflow_states WHERE status = 'failed' GROUP BY 1).
-- Index:   workflow_states_started_at_idx (0011): workflow_states is never pruned, so the 7-day
--          filter must not read every workflow ever started.
SELECT w.workflow_type,
       count(*) AS started,
       count(*) FILTER (WHERE w.status = 'active') AS active,
       count(*) FILTER (WHERE w.status = 'completed') AS completed,
       count(*) FILTER (WHERE w.status = 'failed') AS failed,
       count(*) FILTER (WHERE w.status = 'expired') AS expired,
       round(count(*) FILTER (WHERE w.status = 'completed')::numeric
             / nullif(count(*) FILTER (WHERE w.status <> 'active'), 0), 4) AS completion_rate,
       date_trunc('second', percentile_cont(0.5) WITHIN GROUP (ORDER BY coalesce(w.finished_at, w.updated_at) - w.started_at)
         FILTER (WHERE w.status = 'completed')) AS median_completed_duration,
       date_trunc('second', percentile_cont(0.95) WITHIN GROUP (ORDER BY coalesce(w.finished_at, w.updated_at) - w.started_at)
         FILTER (WHERE w.status = 'completed')) AS p95_completed_duration,
       mode() WITHIN GROUP (ORDER BY w.current_step) FILTER (WHERE w.status = 'expired') AS most_abandoned_step
FROM wapipe.workflow_states w
WHERE w.started_at > now() - interval '7 days'
GROUP BY w.workflow_type
ORDER BY started DESC, w.workflow_type;

-- ==== 10. agent session statistics
-- Shows:   per agent, AI memory sessions active in the last 24 hours: sessions, distinct users,
--          sessions active right now (within memory.session_idle_seconds, 30 min), messages per
--          session (average, p95, max: all ever appended) and session length (first to last
--          activity: median, p95).
-- Bad:     messages per session at the window limit (memory.window_messages, 20) for most
--          sessions: the agent loses older context; very short sessions with one message each:
--          users do not come back after the first answer.
-- Do:      tune memory.window_messages / memory.session_idle_seconds (wapipe.settings); look at
--          the agent's answers.
-- Index:   ai_conversation_memory_activity_idx (last_activity_at): a 24-hour range scan.
SELECT m.agent_type AS agent,
       count(*) AS sessions_24h,
       count(DISTINCT m.user_phone) AS users_24h,
       count(*) FILTER (WHERE m.last_activity_at > now() - make_interval(secs => coalesce(
         (SELECT (s.value #>> '{}')::double precision FROM wapipe.settings s
           WHERE s.key = 'memory.session_idle_seconds'), 1800))) AS active_now,
       round(avg(m.message_count), 1) AS avg_messages,
       percentile_disc(0.95) WITHIN GROUP (ORDER BY m.message_count) AS p95_messages,
       max(m.message_count) AS max_messages,
       date_trunc('second', percentile_cont(0.5) WITHIN GROUP (ORDER BY m.last_activity_at - m.created_at))
         AS median_session_length,
       date_trunc('second', percentile_cont(0.95) WITHIN GROUP (ORDER BY m.last_activity_at - m.created_at))
         AS p95_session_length
FROM wapipe.ai_conversation_memory m
WHERE m.last_activity_at > now() - interval '24 hours'
GROUP BY m.agent_type
ORDER BY sessions_24h DESC, agent;

-- ==== 11. circuit breaker status
-- Shows:   every breaker (service) with its effective state, since when and for how long, the
--          current window's calls and failure rate against the rate that opens it, when an open
--          one admits trials, its last error; and per endpoint of that service: the active health
--          check result and the last 15 minutes of calls and their failure rate.
-- Bad:     state 'open' (calls to that service are refused; messages back off and may end in the
--          DLQ); 'half_open' that keeps reopening (times_opened growing); one endpoint unhealthy
--          or failing while the others are fine (a bad instance behind the service).
-- Do:      fix or remove the failing endpoint (WAPIPE_CONFIG); a breaker closes by itself after
--          open_seconds when trial calls succeed; replay the DLQ afterwards (query 3).
-- Index:   breakers and service_endpoints are small; calls per endpoint read
--          service_calls_service_idx (service, called_at) for 15 minutes.
SELECT b.name AS service,
       b.kind,
       b.state,
       b.since,
       date_trunc('second', now() - b.since) AS in_state_for,
       b.window_calls,
       b.window_failure_rate,
       b.failure_rate AS opens_at_rate,
       b.half_open_at,
       b.times_opened,
       left(b.last_error, 120) AS last_error,
       ep.endpoint,
       e.healthy AS endpoint_healthy,
       e.last_checked_at AS endpoint_checked_at,
       left(e.last_error, 120) AS endpoint_error,
       c.calls AS endpoint_calls_15m,
       c.failures AS endpoint_failures_15m,
       round(c.failures::numeric / nullif(c.calls, 0), 4) AS endpoint_failure_rate_15m
FROM wapipe.circuit_breaker_status b
LEFT JOIN LATERAL (
  SELECT se.endpoint FROM wapipe.service_endpoints se WHERE se.service = b.name
  UNION
  SELECT DISTINCT sc.endpoint FROM wapipe.service_calls sc
  WHERE sc.service = b.name AND sc.called_at > now() - interval '15 minutes' AND sc.endpoint IS NOT NULL
) ep ON true
LEFT JOIN wapipe.service_endpoints e ON e.service = b.name AND e.endpoint = ep.endpoint
LEFT JOIN LATERAL (
  SELECT count(*) AS calls, count(*) FILTER (WHERE NOT sc.ok) AS failures
  FROM wapipe.service_calls sc
  WHERE sc.service = b.name AND sc.called_at > now() - interval '15 minutes'
    AND sc.endpoint IS NOT DISTINCT FROM ep.endpoint
) c ON ep.endpoint IS NOT NULL
ORDER BY (b.state = 'closed'), b.name, ep.endpoint;

-- ==== 12. stale lock detection
-- Shows:   leases and claims nobody is serving any more: conversation leases already expired
--          (with the holder's worker state), 'processing' messages whose conversation is not
--          leased to their claimer (orphaned claims), outbox rows stuck in 'sending' past their
--          lease, and running workers whose heartbeat stopped. cleanup_due = the minute
--          jobs should already have repaired it (older than 5 minutes).
-- Bad:     any row with cleanup_due = true: wapipe-stale-locks / wapipe-stuck-conversations are
--          not running (query 14, cron failures). Rows without it are normal after a worker
--          crash and clear within minutes.
-- Do:      SELECT wapipe.cleanup_stale_message_locks('0 seconds'); SELECT
--          wapipe.cleanup_stuck_webhook_conversations('0 seconds'); then check pg_cron.
-- Index:   one pass over conversations (leases are not indexed), processed_messages_unfinished_idx
--          (partial: processed_at IS NULL), outbox_pending_idx (partial: pending/sending); workers is small.
SELECT 'expired conversation lease' AS kind,
       c.conversation_key AS subject,
       c.locked_by AS holder,
       CASE WHEN w.worker_id IS NULL THEN 'unknown' WHEN w.stopped_at IS NOT NULL THEN 'stopped'
            WHEN w.heartbeat_at > now() - interval '30 seconds' THEN 'alive' ELSE 'dead' END AS holder_state,
       date_trunc('second', now() - c.locked_until) AS stale_for,
       c.locked_until < now() - interval '5 minutes' AS cleanup_due
FROM wapipe.conversations c
LEFT JOIN wapipe.workers w ON w.worker_id = c.locked_by
WHERE c.locked_by IS NOT NULL AND c.locked_until < now()
UNION ALL
SELECT 'orphaned processing claim', m.id::text, m.claimed_by, NULL,
       date_trunc('second', now() - m.claimed_at), m.claimed_at < now() - interval '5 minutes'
FROM wapipe.processed_messages m
WHERE m.processed_at IS NULL AND m.status = 'processing'
  AND NOT EXISTS (SELECT 1 FROM wapipe.conversations c
                  WHERE c.conversation_key = m.conversation_key AND c.head_message_id = m.id
                    AND c.locked_by = m.claimed_by)
UNION ALL
SELECT 'outbox sending past lease', o.id::text, o.locked_by, NULL,
       date_trunc('second', now() - o.locked_until), o.locked_until < now() - interval '5 minutes'
FROM wapipe.outbox o
WHERE o.status = 'sending' AND o.locked_until < now()
UNION ALL
SELECT 'worker heartbeat stopped', w.worker_id, w.host || ':' || w.pid, 'dead',
       date_trunc('second', now() - w.heartbeat_at), false
FROM wapipe.workers w
WHERE w.stopped_at IS NULL AND w.heartbeat_at < now() - interval '30 seconds'
  AND w.heartbeat_at > now() - interval '1 day'
ORDER BY cleanup_due DESC, stale_for DESC
LIMIT 200;

-- ==== 13. deduplication effectiveness
-- Shows:   per hour of the last 24 (empty hours included): webhook POSTs, messages new to
--          wapipe (unique) and duplicates Meta delivered again, the duplicate share, duplicates
--          per unique message, statuses and account errors.
-- Bad:     duplicates suddenly high: Meta is retrying, i.e. the ingress answered non-200 or too
--          slowly (check GET /metrics wapipe_ingress_requests_total{status!="200"} and ingest
--          latency); duplicates are harmless (each wamid is processed once), but are a symptom.
-- Do:      look at ingress 5xx/503 (database unreachable/slow) and latency in Grafana.
-- Index:   webhook_events_received_at_brin: a 24-hour range scan.
WITH hours AS (
  SELECT generate_series(date_trunc('hour', now()) - interval '23 hours', date_trunc('hour', now()),
                         interval '1 hour') AS hour
), events AS (
  SELECT date_trunc('hour', e.received_at) AS hour, count(*) AS posts,
         sum(e.new_messages) AS unique_messages, sum(e.duplicates) AS duplicates,
         sum(e.statuses) AS statuses, sum(e.errors) AS errors
  FROM wapipe.webhook_events e
  WHERE e.received_at >= date_trunc('hour', now()) - interval '23 hours'
  GROUP BY 1
)
SELECT h.hour,
       coalesce(v.posts, 0) AS posts,
       coalesce(v.unique_messages, 0) AS unique_messages,
       coalesce(v.duplicates, 0) AS duplicates,
       round(v.duplicates::numeric / nullif(v.unique_messages + v.duplicates, 0), 4) AS duplicate_share,
       round(v.duplicates::numeric / nullif(v.unique_messages, 0), 4) AS duplicates_per_unique,
       coalesce(v.statuses, 0) AS statuses,
       coalesce(v.errors, 0) AS account_errors
FROM hours h
LEFT JOIN events v ON v.hour = h.hour
ORDER BY h.hour DESC;

-- ==== 14. system health summary
-- Shows:   one row: status ok / degraded / critical with the reasons, queue depth, oldest
--          message age, in flight, retrying, pending dead letters, open breakers, live workers,
--          stuck workflows, pg_cron failures in the last hour and the last run (the same as
--          `wapipe health`; details holds names, outbox, each pg_cron job and the thresholds).
-- Bad:     anything but ok; each reason says what crossed which threshold.
-- Do:      follow the reason to its query above (age/depth: 2, dead letters: 3, breakers: 11,
--          workers: `wapipe workers`, workflows: 1, leases: 12, pg_cron: cron.job_run_details).
--          Thresholds: the health.* rows of wapipe.settings, or per call, e.g.
--          wapipe.system_health('{"oldest_age_degraded_seconds": 30}').
-- Index:   see wapipe.system_health: partial indexes on unfinished messages
--          (processed_messages_unfinished_received_idx, 0011), pending dead letters, leases,
--          active workflows and pending outbox rows; cron.job_run_details is trimmed daily.
SELECT h.status, h.reasons, h.queue_depth, date_trunc('second', h.oldest_message_age) AS oldest_message_age,
       h.in_flight, h.retrying, h.dead_letters, h.breakers_open, h.workers_alive, h.stuck_workflows,
       h.cron_failures_last_hour, h.last_cron_run
FROM wapipe.system_health() h;
