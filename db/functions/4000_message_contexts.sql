-- wapipe._message_contexts: message_contexts' rules for items given as arrays (one element per item, aligned).
-- Returns one row per item (ord = its position, from 1): message_contexts' columns.
--
-- THE message-context rule (message_contexts, below, says what each item gets); its
-- callers hand it arrays, so no JSON is built or parsed on the claim's path:
-- message_contexts parses its JSON items into them, claim_messages passes the claimed
-- messages' columns and _context_items' routing, message_context one element each.
-- users[i] (required), preferred_agents[i], rate_keys[i], conversation_keys[i] and
-- bypass_workflow[i] are item i's fields (a NULL array: NULL for every item).
-- Raises 22023 for an empty user or default_agent, and what _take_rate_tokens raises.
CREATE OR REPLACE FUNCTION wapipe._message_contexts(
  users text[], preferred_agents text[], rate_keys text[], conversation_keys text[],
  bypass_workflow boolean[], default_agent text, known_agents text[],
  rate_max integer, rate_per interval)
RETURNS TABLE (
  ord integer, allowed boolean, retry_after_ms integer,
  workflow_id bigint, workflow_type text, current_step text, workflow_data jsonb,
  workflow_version integer,
  agent text, memory_id bigint, session_id text, memory_messages jsonb, memory_context jsonb,
  breaker_state text, handed_off jsonb, window_closes_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  -- (no planner settings of its own: it plans under its callers', which all set them)
AS $$
#variable_conflict use_column
DECLARE
  v_n            integer := coalesce(cardinality(users), 0);
  v_users        text[] := users;
  v_preferred    text[] := preferred_agents;
  v_rate_keys    text[] := rate_keys;
  v_convs        text[] := conversation_keys;
  v_bypass       boolean[] := bypass_workflow;
  v_handoffs     jsonb[];
  v_closes       timestamptz[];
  v_distinct     boolean;
  v_allowed      boolean[];
  v_retry_after  integer[];
  v_wf_ids       bigint[];
  v_wf_types     text[];
  v_wf_steps     text[];
  v_wf_data      jsonb[];
  v_wf_versions  integer[];
  v_agents       text[];
BEGIN
  IF coalesce(default_agent, '') = '' OR array_position(v_users, NULL) IS NOT NULL
     OR array_position(v_users, '') IS NOT NULL THEN
    RAISE EXCEPTION 'message_context needs a user_phone and a default_agent' USING ERRCODE = '22023';
  END IF;
  IF v_n = 0 THEN
    RETURN;
  END IF;

  SELECT count(DISTINCT u.user_phone) = count(*) AND count(DISTINCT u.rate_key) = count(u.rate_key)
    INTO v_distinct
  FROM unnest(v_users, v_rate_keys) AS u(user_phone, rate_key);
  IF NOT v_distinct THEN
    -- Items depend on each other: one after another, each a batch of one.
    FOR i IN 1 .. v_n LOOP
      RETURN QUERY
        SELECT i, c.allowed, c.retry_after_ms, c.workflow_id, c.workflow_type, c.current_step,
               c.workflow_data, c.workflow_version, c.agent, c.memory_id, c.session_id,
               c.memory_messages, c.memory_context, c.breaker_state, c.handed_off, c.window_closes_at
        FROM wapipe._message_contexts(v_users[i:i], v_preferred[i:i], v_rate_keys[i:i], v_convs[i:i],
                                      v_bypass[i:i], default_agent, known_agents, rate_max, rate_per) c;
    END LOOP;
    RETURN;
  END IF;

  -- 0. Handoffs in force and windows (wapipe._windows_close_at, one call for the batch);
  --    a handed-off item takes no rate token.
  IF coalesce(cardinality(array_remove(v_convs, NULL)), 0) > 0 THEN  -- (none: nothing to read)
  WITH windows AS MATERIALIZED (  -- (called once, not again for every item the join visits)
    SELECT w.conversation_key, w.closes_at FROM wapipe._windows_close_at(v_convs) w)
  SELECT array_agg(h.handoff ORDER BY u.i),
         array_agg(w.closes_at ORDER BY u.i),
         array_agg(CASE WHEN h.handoff IS NULL THEN v_rate_keys[u.i] END ORDER BY u.i)
    INTO v_handoffs, v_closes, v_rate_keys
  FROM unnest(v_convs) WITH ORDINALITY AS u(conv, i)
  LEFT JOIN LATERAL (
    SELECT jsonb_build_object('id', x.id, 'since', x.started_at, 'until', x.until,
                              'by', x.started_by, 'reason', x.reason) AS handoff
    FROM wapipe.handoffs x
    WHERE x.conversation_key = u.conv AND x.ended_at IS NULL AND x.until > now()) h ON true
  LEFT JOIN windows w ON w.conversation_key = u.conv;
  END IF;

  -- 1. Rate limits: one token per item with a key (wapipe._take_rate_tokens).
  v_allowed := array_fill(true, ARRAY[v_n]);
  v_retry_after := array_fill(0, ARRAY[v_n]);
  IF coalesce(cardinality(array_remove(v_rate_keys, NULL)), 0) > 0 THEN
    WITH taken AS MATERIALIZED (  -- (called once, not again for every item the join visits)
      SELECT t.key, t.allowed, t.retry_after_ms
      FROM wapipe._take_rate_tokens(array_remove(v_rate_keys, NULL),
                                    rate_max, rate_per) t)
    SELECT array_agg(coalesce(t.allowed, true) ORDER BY u.i),
           array_agg(coalesce(t.retry_after_ms, 0) ORDER BY u.i)
      INTO v_allowed, v_retry_after
    FROM unnest(v_rate_keys) WITH ORDINALITY AS u(key, i)
    LEFT JOIN taken t ON t.key = u.key;
  END IF;

  -- 2. Admitted items: the active workflow (wapipe._active_workflows; none looked at for
  --    a handed-off item or one that bypasses the workflow), else the agent
  --    (preferred, else the current session's when known (wapipe._recent_agents), else
  --    the default). One call each for the batch.
  -- (MATERIALIZED: each called once, not again for every item the join visits)
  WITH workflows AS MATERIALIZED (
    SELECT a.ord, a.workflow
    FROM wapipe._active_workflows(ARRAY(
           SELECT CASE WHEN u.allowed AND u.handoff IS NULL AND u.bypass IS NOT TRUE THEN u.user_phone END
           FROM unnest(v_users, v_allowed, v_handoffs, v_bypass)
                  WITH ORDINALITY AS u(user_phone, allowed, handoff, bypass, i)
           ORDER BY u.i)) a
  ), recent AS MATERIALIZED (
    SELECT r.ord, r.agent
    FROM wapipe._recent_agents(ARRAY(
           SELECT CASE WHEN u.allowed AND coalesce(u.preferred, '') = '' THEN u.user_phone END
           FROM unnest(v_users, v_preferred, v_allowed) WITH ORDINALITY AS u(user_phone, preferred, allowed, i)
           ORDER BY u.i)) r
  )
  SELECT array_agg((w.workflow).id ORDER BY u.i), array_agg((w.workflow).workflow_type ORDER BY u.i),
         array_agg((w.workflow).current_step ORDER BY u.i), array_agg((w.workflow).data ORDER BY u.i),
         array_agg((w.workflow).version ORDER BY u.i),
         array_agg(CASE WHEN u.allowed AND w.ord IS NULL THEN coalesce(
                     nullif(u.preferred, ''),
                     CASE WHEN r.agent = ANY (coalesce(known_agents, '{}')) THEN r.agent END,
                     default_agent) END ORDER BY u.i)
    INTO v_wf_ids, v_wf_types, v_wf_steps, v_wf_data, v_wf_versions, v_agents
  FROM unnest(v_users, v_preferred, v_allowed) WITH ORDINALITY AS u(user_phone, preferred, allowed, i)
  LEFT JOIN workflows w ON w.ord = u.i
  LEFT JOIN recent r ON r.ord = u.i;

  -- 3. The memory sessions of the items with an agent (wapipe._memory_sessions), and
  --    each item's answer.
  RETURN QUERY
  WITH sessions AS MATERIALIZED (
    SELECT x.ord, x.session FROM wapipe._memory_sessions(v_users, v_agents) x)
  SELECT u.i::integer, v_allowed[u.i], v_retry_after[u.i],
         v_wf_ids[u.i], v_wf_types[u.i], v_wf_steps[u.i], v_wf_data[u.i], v_wf_versions[u.i],
         v_agents[u.i], (s.session).id, (s.session).session_id, (s.session).messages,
         (s.session).context, b.state, v_handoffs[u.i], v_closes[u.i]
  FROM generate_series(1, v_n) AS u(i)
  LEFT JOIN sessions s ON s.ord = u.i
  LEFT JOIN wapipe.breakers b ON b.name = v_agents[u.i]
  ORDER BY u.i;
END
$$;
COMMENT ON FUNCTION wapipe._message_contexts(text[], text[], text[], text[], boolean[], text, text[], integer, interval) IS
  'Private: the message-context rule for items as aligned arrays (users, preferred_agents, rate_keys, conversation_keys, bypass_workflow): what message_contexts answers for them, without JSON. Returns message_contexts'' rows (ord from 1). Raises 22023 for an empty user or default_agent, or bad rate settings.';
REVOKE ALL ON FUNCTION wapipe._message_contexts(text[], text[], text[], text[], boolean[], text, text[], integer, interval) FROM PUBLIC;

-- wapipe.message_contexts: message_context for many messages of one worker, in one round trip.
-- Returns one row per item (ord = its position, from 1): what message_context returns for it, plus the stored state of the chosen agent's breaker.
--
-- items = [{"user_phone": .., "preferred_agent": .. | null, "rate_key": .. | null,
--           "conversation_key": .. | null, "bypass_workflow": true | absent}, ...];
-- default_agent, known_agents, rate_max and rate_per are shared by all items, as a
-- worker uses one configuration. Each item gets what message_context(user_phone,
-- default_agent, known_agents, preferred_agent, rate_key, rate_max, rate_per)
-- called for the items one after another would give it: a refused rate limit stops
-- there, an active workflow comes back without an agent or memory, otherwise the
-- agent (preferred, else the current session's if known, else the default) and
-- its memory (created when missing). breaker_state is the chosen agent's breaker
-- as stored ('closed', 'open', 'half_open'; NULL without a workflow-free agent or
-- a breaker row): a plain read that takes no half-open trial slot, so a caller
-- may skip breaker_allow when it says 'closed' and must call it otherwise.
-- handed_off and window_closes_at: as message_context says them for an item with a
-- conversation_key (a handed-off item takes no rate token and gets no workflow).
-- bypass_workflow: true for a message the user's active workflow did not take (the
-- worker asks again): no workflow is looked at, so it gets the agent and memory it
-- would get without one, by the same rules (_context_items gives it no rate key).
--
-- The rules are wapipe._message_contexts (above), given the items as arrays.
-- Set-based when every user and rate key occurs once (the worker's case: one
-- message per conversation): one statement per step for all items, rows locked in
-- key order (buckets, then memory advisory locks), so concurrent callers do not
-- deadlock. Items sharing a user or a rate key depend on each other (the second
-- sees the first's token and session), so such a batch is answered item by item,
-- each item as a batch of one of this same function. Each rule is read from its one
-- text, one call for the batch: _take_rate_tokens (token bucket), _active_workflows,
-- _recent_agents (sticky agent), _memory_sessions (session reuse or creation).
-- Plans: generic, and never a sequential scan (every access is by key; a plan made
-- while a table was still small must not keep scanning it as it grows).
CREATE OR REPLACE FUNCTION wapipe.message_contexts(
  items jsonb, default_agent text, known_agents text[] DEFAULT '{}',
  rate_max integer DEFAULT NULL, rate_per interval DEFAULT NULL)
RETURNS TABLE (
  ord integer, allowed boolean, retry_after_ms integer,
  workflow_id bigint, workflow_type text, current_step text, workflow_data jsonb,
  workflow_version integer,
  agent text, memory_id bigint, session_id text, memory_messages jsonb, memory_context jsonb,
  breaker_state text, handed_off jsonb, window_closes_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
#variable_conflict use_column
BEGIN
  IF jsonb_typeof(items) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'items must be a JSON array of {"user_phone", "preferred_agent", "rate_key"}'
      USING ERRCODE = '22023';
  END IF;
  RETURN QUERY
  SELECT c.ord, c.allowed, c.retry_after_ms, c.workflow_id, c.workflow_type, c.current_step,
         c.workflow_data, c.workflow_version, c.agent, c.memory_id, c.session_id,
         c.memory_messages, c.memory_context, c.breaker_state, c.handed_off, c.window_closes_at
  FROM (SELECT array_agg(e.item->>'user_phone' ORDER BY e.ord) AS users,
               array_agg(e.item->>'preferred_agent' ORDER BY e.ord) AS preferred,
               array_agg(e.item->>'rate_key' ORDER BY e.ord) AS rate_keys,
               array_agg(e.item->>'conversation_key' ORDER BY e.ord) AS convs,
               array_agg(e.item->'bypass_workflow' IS NOT DISTINCT FROM 'true' ORDER BY e.ord) AS bypass
        FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, ord)) i
  CROSS JOIN LATERAL wapipe._message_contexts(i.users, i.preferred, i.rate_keys, i.convs, i.bypass,
                                              default_agent, known_agents, rate_max, rate_per) c;
END
$$;
COMMENT ON FUNCTION wapipe.message_contexts(jsonb, text, text[], integer, interval) IS
  'message_context for many items ([{"user_phone", "preferred_agent", "rate_key", "conversation_key", "bypass_workflow"}]; bypass_workflow true: no workflow looked at, for a message the active workflow did not take) in one round trip and one transaction, each item answered as if the calls ran one after another (set-based when users and rate keys are distinct, else item by item as batches of one). Returns one row per item (ord from 1) with message_context''s columns plus breaker_state, the chosen agent''s stored breaker state (a read: no trial slot taken), handed_off and window_closes_at. Raises 22023 for a malformed items array, an empty user_phone or default_agent, or bad rate settings.';

REVOKE ALL ON FUNCTION wapipe.message_contexts(jsonb, text, text[], integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.message_contexts(jsonb, text, text[], integer, interval) TO wapipe_worker;

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
-- memory; it calls no agent. window_closes_at: wapipe._windows_close_at.
-- message_contexts of one item (its core, _message_contexts, with one element each):
-- the rules, and the refusals, are there.
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
  -- (the planner settings of the helpers it calls, which have none of their own)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
BEGIN
  RETURN QUERY
  SELECT c.allowed, c.retry_after_ms, c.workflow_id, c.workflow_type, c.current_step, c.workflow_data,
         c.workflow_version, c.agent, c.memory_id, c.session_id, c.memory_messages, c.memory_context,
         c.handed_off, c.window_closes_at
  FROM wapipe._message_contexts(
         ARRAY[message_context.user_phone], ARRAY[message_context.preferred_agent],
         ARRAY[message_context.rate_key], ARRAY[message_context.conversation_key], NULL,
         message_context.default_agent, message_context.known_agents,
         message_context.rate_max, message_context.rate_per) c;
END
$$;
COMMENT ON FUNCTION wapipe.message_context(text, text, text[], text, text, integer, interval, text) IS
  'One round trip before handling a message: rate limit (when rate_key is given; a refusal stops there), the active workflow, else the agent (preferred, else the current session''s if known, else default) and its memory. With conversation_key: handed_off (the handoff in force, which skips the rate limit and the workflow) and window_closes_at (24-hour window). Returns one row.';

REVOKE ALL ON FUNCTION wapipe.message_context(text, text, text[], text, text, integer, interval, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.message_context(text, text, text[], text, text, integer, interval, text) TO wapipe_worker;
