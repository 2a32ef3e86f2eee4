-- wapipe.ai_agent_usage: calls, latency and live sessions per AI agent, last 24 hours.
-- An agent is a breaker of kind 'agent'; its name is the service_calls.service of its
-- calls (breaker_record) and the agent_type of its memory sessions.
CREATE VIEW wapipe.ai_agent_usage AS
SELECT a.name AS agent,
       a.state AS breaker_state,
       c.calls,
       c.successes,
       c.calls - c.successes AS failures,
       round((c.calls - c.successes)::numeric / nullif(c.calls, 0), 4) AS failure_rate,
       round(c.p50_ms::numeric, 1) AS p50_ms,
       round(c.p95_ms::numeric, 1) AS p95_ms,
       c.last_call_at,
       s.active_sessions
FROM wapipe.breakers a
-- service_calls_service_idx (service, called_at) serves each agent's 24 hours.
CROSS JOIN LATERAL (
  SELECT count(*) AS calls,
         count(*) FILTER (WHERE sc.ok) AS successes,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY sc.duration_ms) AS p50_ms,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY sc.duration_ms) AS p95_ms,
         max(sc.called_at) AS last_call_at
  FROM wapipe.service_calls sc
  WHERE sc.service = a.name AND sc.called_at > now() - interval '24 hours'
) c
CROSS JOIN LATERAL (
  SELECT count(*) AS active_sessions
  FROM wapipe.ai_conversation_memory m
  WHERE m.agent_type = a.name
    AND m.last_activity_at > now() - make_interval(secs => coalesce(
          (SELECT (st.value #>> '{}')::numeric FROM wapipe.settings st
            WHERE st.key = 'memory.session_idle_seconds'), 1800))
) s
WHERE a.kind = 'agent'
ORDER BY a.name;

COMMENT ON VIEW wapipe.ai_agent_usage IS
  'Per AI agent (breakers of kind agent; the breaker name is the service name in service_calls and the '
  'agent_type in ai_conversation_memory), over the last 24 hours of service_calls: calls, successes, '
  'failures, failure_rate (fraction), p50_ms / p95_ms (percentile_cont of duration_ms), last_call_at; '
  'active_sessions = memory sessions active within memory.session_idle_seconds (30 min); breaker_state '
  'as stored.';
GRANT SELECT ON wapipe.ai_agent_usage TO wapipe_monitor;
