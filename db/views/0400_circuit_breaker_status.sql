-- wapipe.circuit_breaker_status: every breaker with its effective state, current
-- window and policy, and the health of its service's endpoints.
CREATE VIEW wapipe.circuit_breaker_status AS
SELECT b.name,
       b.kind,
       CASE WHEN b.state = 'open' AND b.opened_at <= now() - make_interval(secs => p.open_seconds)
            THEN 'half_open' ELSE b.state END AS state,
       b.state AS stored_state,
       CASE WHEN b.state = 'open' AND b.opened_at <= now() - make_interval(secs => p.open_seconds)
            THEN b.opened_at + make_interval(secs => p.open_seconds)
            ELSE b.state_changed_at END AS since,
       CASE WHEN b.state = 'open' THEN b.opened_at + make_interval(secs => p.open_seconds) END
         AS half_open_at,
       w.calls AS window_calls,
       w.failures AS window_failures,
       round(w.failures::numeric / nullif(w.calls, 0), 4) AS window_failure_rate,
       p.failure_rate,
       p.open_seconds,
       p.window_seconds,
       p.min_calls,
       p.half_open_calls,
       b.half_open_in_flight,
       b.half_open_successes,
       b.times_opened,
       b.opened_at,
       b.last_failure_at,
       b.last_error,
       e.healthy_endpoints,
       e.total_endpoints,
       d.deferred_messages
FROM wapipe.breakers b
-- Effective policy: the breaker's own value, else breaker.<kind>.<key>, else
-- breaker.default.<key> (the rule of wapipe._breaker_setting, which the monitor
-- role may not call).
CROSS JOIN LATERAL (
  SELECT
    coalesce(b.failure_rate,
             max(x.v) FILTER (WHERE x.k = 'failure_rate' AND x.own_kind),
             max(x.v) FILTER (WHERE x.k = 'failure_rate')) AS failure_rate,
    coalesce(b.open_seconds,
             max(x.v) FILTER (WHERE x.k = 'open_seconds' AND x.own_kind),
             max(x.v) FILTER (WHERE x.k = 'open_seconds'))::integer AS open_seconds,
    coalesce(b.window_seconds,
             max(x.v) FILTER (WHERE x.k = 'window_seconds' AND x.own_kind),
             max(x.v) FILTER (WHERE x.k = 'window_seconds'))::integer AS window_seconds,
    coalesce(b.min_calls,
             max(x.v) FILTER (WHERE x.k = 'min_calls' AND x.own_kind),
             max(x.v) FILTER (WHERE x.k = 'min_calls'))::integer AS min_calls,
    coalesce(b.half_open_calls,
             max(x.v) FILTER (WHERE x.k = 'half_open_calls' AND x.own_kind),
             max(x.v) FILTER (WHERE x.k = 'half_open_calls'))::integer AS half_open_calls
  FROM (SELECT split_part(s.key, '.', 3) AS k,
               split_part(s.key, '.', 2) = b.kind AS own_kind,
               (s.value #>> '{}')::numeric AS v
        FROM wapipe.settings s
        WHERE s.key LIKE 'breaker.%' AND split_part(s.key, '.', 2) IN (b.kind, 'default')) x
) p
-- The window breaker_record uses: buckets since window_started_at, within window_seconds.
CROSS JOIN LATERAL (
  SELECT coalesce(sum(bb.calls), 0) AS calls, coalesce(sum(bb.failures), 0) AS failures
  FROM wapipe.breaker_buckets bb
  WHERE bb.name = b.name
    AND bb.bucket_at >= date_trunc('second', b.window_started_at)
    AND bb.bucket_at > now() - make_interval(secs => p.window_seconds)
) w
CROSS JOIN LATERAL (
  SELECT count(*) FILTER (WHERE se.healthy) AS healthy_endpoints, count(*) AS total_endpoints
  FROM wapipe.service_endpoints se
  WHERE se.service = b.name
) e
-- messages waiting for the service (defer_message): deferred conversations
-- (conversations_deferred_idx) whose head waits for it, with the messages behind the head
CROSS JOIN LATERAL (
  SELECT count(*) AS deferred_messages
  FROM wapipe.conversations c
  JOIN wapipe.processed_messages h ON h.id = c.head_message_id
  JOIN wapipe.processed_messages m ON m.conversation_key = c.conversation_key AND m.processed_at IS NULL
  WHERE c.deferred_until IS NOT NULL AND h.status = 'queued' AND h.waiting_for = b.name
) d
ORDER BY b.name;

COMMENT ON VIEW wapipe.circuit_breaker_status IS
  'One row per circuit breaker. state is effective: an open breaker past open_seconds shows half_open '
  '(the next breaker_allow moves it); stored_state is the row as stored; since = when that state began; '
  'half_open_at = when an open breaker admits trials. window_calls / window_failures / '
  'window_failure_rate: the current sliding window. failure_rate, open_seconds, window_seconds, '
  'min_calls, half_open_calls: effective policy (override, else breaker.<kind>.*, else '
  'breaker.default.*). healthy_endpoints / total_endpoints: service_endpoints rows whose service is '
  'the breaker name. deferred_messages: messages waiting for the service without spending attempts '
  '(defer_message), the heads and the messages behind them.';
GRANT SELECT ON wapipe.circuit_breaker_status TO wapipe_monitor;
