-- wapipe._recent_agents: the AI agent each user is currently talking to (sticky routing).
-- Returns one row per item whose user has one (ord = its position, from 1): the agent_type of the
-- user's most recent memory session still within memory.session_idle_seconds.
--
-- THE sticky-agent rule, set-based. NULL users are skipped. One call per batch
-- (message_contexts), like _active_workflows.
CREATE OR REPLACE FUNCTION wapipe._recent_agents(users text[])
RETURNS TABLE (ord integer, agent text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
  -- (no planner settings of its own: it plans under its callers', which all set them)
AS $$
DECLARE
  idle_interval interval := make_interval(secs => wapipe._setting_num('memory.session_idle_seconds'));
BEGIN
  RETURN QUERY
  SELECT u.i::integer, r.agent_type
  FROM unnest(users) WITH ORDINALITY AS u(user_phone, i)
  JOIN LATERAL (
    SELECT m.agent_type
    FROM wapipe.ai_conversation_memory m
    WHERE m.user_phone = u.user_phone AND m.last_activity_at > now() - idle_interval
    ORDER BY m.last_activity_at DESC, m.id DESC
    LIMIT 1) r ON true
  WHERE u.user_phone IS NOT NULL;
END
$$;
COMMENT ON FUNCTION wapipe._recent_agents(text[]) IS
  'Private: the sticky-agent rule, set-based: per item (NULL users skipped) the agent_type of its user''s most recent memory session active within memory.session_idle_seconds, if any. Returns (ord, agent).';
REVOKE ALL ON FUNCTION wapipe._recent_agents(text[]) FROM PUBLIC;

-- wapipe.get_recent_agent: the AI agent a user is currently talking to (sticky routing).
-- Returns the agent_type of the user's most recent memory session still within
-- memory.session_idle_seconds, or NULL when there is none. _recent_agents of one user.
CREATE OR REPLACE FUNCTION wapipe.get_recent_agent(user_phone text)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
  -- (the planner settings of the helpers it calls, which have none of their own)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
  SELECT a.agent FROM wapipe._recent_agents(ARRAY[user_phone]) a
$$;
COMMENT ON FUNCTION wapipe.get_recent_agent(text) IS
  'agent_type of the most recent AI memory session of user_phone active within memory.session_idle_seconds, else NULL (the worker keeps a user with that agent).';
REVOKE ALL ON FUNCTION wapipe.get_recent_agent(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.get_recent_agent(text) TO wapipe_worker;
