-- wapipe.message_context: what the worker needs before handling one message, in one round trip.
-- Returns one row: the rate-limit verdict, the user's active workflow (if any), else the agent to use and its memory.
--
-- Order matters and mirrors the handler: a refused rate limit stops there (nothing
-- else is read or created); an active workflow gets the message before any agent,
-- so no memory session is opened for it; otherwise the agent is the preferred one
-- (a keyword rule the worker matched), else the agent of the user's current memory
-- session when the worker knows it, else the default, and its memory is loaded or
-- created (get_or_create_conversation_memory: 20-message window, 30-minute sessions).
-- With conversation_key (phone_number_id:user key): handed_off is the conversation's
-- handoff in force ({"id", "since", "until", "by", "reason"}; NULL when none), and then
-- neither the rate limit (no token taken, so no notice) nor the workflow is looked at:
-- the agent and its memory come back only so the handler can keep the user's words in
-- memory; it calls no agent. window_closes_at: wapipe._window_closes_at.
-- message_contexts of one item: the rules, and the refusals, are there.
CREATE OR REPLACE FUNCTION wapipe.message_context(
  user_phone text, default_agent text, known_agents text[] DEFAULT '{}',
  preferred_agent text DEFAULT NULL, rate_key text DEFAULT NULL,
  rate_max integer DEFAULT NULL, rate_per interval DEFAULT NULL,
  conversation_key text DEFAULT NULL)
RETURNS TABLE (
  allowed boolean, retry_after_ms integer,
  workflow_id bigint, workflow_type text, current_step text, workflow_data jsonb,
  workflow_version integer,
  agent text, memory_id bigint, session_id text, memory_messages jsonb, memory_context jsonb,
  handed_off jsonb, window_closes_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  RETURN QUERY
  SELECT c.allowed, c.retry_after_ms, c.workflow_id, c.workflow_type, c.current_step, c.workflow_data,
         c.workflow_version, c.agent, c.memory_id, c.session_id, c.memory_messages, c.memory_context,
         c.handed_off, c.window_closes_at
  FROM wapipe.message_contexts(
         jsonb_build_array(jsonb_build_object(
           'user_phone', message_context.user_phone, 'preferred_agent', message_context.preferred_agent,
           'rate_key', message_context.rate_key, 'conversation_key', message_context.conversation_key)),
         message_context.default_agent, message_context.known_agents,
         message_context.rate_max, message_context.rate_per) c;
END
$$;
COMMENT ON FUNCTION wapipe.message_context(text, text, text[], text, text, integer, interval, text) IS
  'One round trip before handling a message: rate limit (when rate_key is given; a refusal stops there), the active workflow, else the agent (preferred, else the current session''s if known, else default) and its memory. With conversation_key: handed_off (the handoff in force, which skips the rate limit and the workflow) and window_closes_at (24-hour window). Returns one row.';

REVOKE ALL ON FUNCTION wapipe.message_context(text, text, text[], text, text, integer, interval, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.message_context(text, text, text[], text, text, integer, interval, text) TO wapipe_worker;
