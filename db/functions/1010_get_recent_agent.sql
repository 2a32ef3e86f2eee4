-- wapipe.get_recent_agent: the AI agent a user is currently talking to (sticky routing).
-- Returns the agent_type of the user's most recent memory session still within
-- memory.session_idle_seconds, or NULL when there is none.
CREATE OR REPLACE FUNCTION wapipe.get_recent_agent(user_phone text)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
  SELECT m.agent_type
  FROM wapipe.ai_conversation_memory m
  WHERE m.user_phone = get_recent_agent.user_phone
    AND m.last_activity_at
        > now() - make_interval(secs => wapipe._setting_num('memory.session_idle_seconds'))
  ORDER BY m.last_activity_at DESC, m.id DESC
  LIMIT 1
$$;
COMMENT ON FUNCTION wapipe.get_recent_agent(text) IS
  'agent_type of the most recent AI memory session of user_phone active within memory.session_idle_seconds, else NULL (the worker keeps a user with that agent).';
REVOKE ALL ON FUNCTION wapipe.get_recent_agent(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.get_recent_agent(text) TO wapipe_worker;
