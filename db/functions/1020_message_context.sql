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
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
DECLARE
  v_allowed     boolean := true;
  v_retry_after integer := 0;
  wf            wapipe.workflow_states;
  v_agent       text;
  mem           wapipe.ai_conversation_memory;
  v_handoff     jsonb;
  v_closes      timestamptz;
BEGIN
  IF coalesce(user_phone, '') = '' OR coalesce(default_agent, '') = '' THEN
    RAISE EXCEPTION 'message_context needs a user_phone and a default_agent' USING ERRCODE = '22023';
  END IF;

  IF message_context.conversation_key IS NOT NULL THEN
    v_closes := wapipe._window_closes_at(message_context.conversation_key);
    SELECT jsonb_build_object('id', h.id, 'since', h.started_at, 'until', h.until,
                              'by', h.started_by, 'reason', h.reason)
      INTO v_handoff
    FROM wapipe.handoffs h
    WHERE h.conversation_key = message_context.conversation_key
      AND h.ended_at IS NULL AND h.until > now();
  END IF;

  IF rate_key IS NOT NULL AND v_handoff IS NULL THEN
    SELECT r.allowed, r.retry_after_ms INTO v_allowed, v_retry_after
    FROM wapipe.check_rate_limit(rate_key, rate_max, rate_per) r;
    IF NOT v_allowed THEN
      RETURN QUERY SELECT false, v_retry_after, NULL::bigint, NULL::text, NULL::text, NULL::jsonb,
                          NULL::integer, NULL::text, NULL::bigint, NULL::text, NULL::jsonb, NULL::jsonb,
                          NULL::jsonb, v_closes;
      RETURN;
    END IF;
  END IF;

  IF v_handoff IS NULL THEN
    SELECT w.* INTO wf FROM wapipe.get_active_workflow(message_context.user_phone) w;
  END IF;
  IF wf.id IS NULL THEN
    v_agent := coalesce(
      nullif(preferred_agent, ''),
      (SELECT r FROM wapipe.get_recent_agent(message_context.user_phone) r
       WHERE r = ANY (coalesce(known_agents, '{}'))),
      default_agent);
    mem := wapipe.get_or_create_conversation_memory(message_context.user_phone, v_agent);
  END IF;

  RETURN QUERY SELECT true, 0, wf.id, wf.workflow_type, wf.current_step, wf.data, wf.version,
                      v_agent, mem.id, mem.session_id, mem.messages, mem.context,
                      v_handoff, v_closes;
END
$$;
COMMENT ON FUNCTION wapipe.message_context(text, text, text[], text, text, integer, interval, text) IS
  'One round trip before handling a message: rate limit (when rate_key is given; a refusal stops there), the active workflow, else the agent (preferred, else the current session''s if known, else default) and its memory. With conversation_key: handed_off (the handoff in force, which skips the rate limit and the workflow) and window_closes_at (24-hour window). Returns one row.';

REVOKE ALL ON FUNCTION wapipe.message_context(text, text, text[], text, text, integer, interval, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.message_context(text, text, text[], text, text, integer, interval, text) TO wapipe_worker;
