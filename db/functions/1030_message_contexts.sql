-- wapipe.message_contexts: message_context for many messages of one worker, in one round trip.
-- Returns one row per item (ord = its position, from 1): what message_context returns for it, plus the stored state of the chosen agent's breaker.
--
-- items = [{"user_phone": .., "preferred_agent": .. | null, "rate_key": .. | null,
--           "conversation_key": .. | null}, ...];
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
--
-- Set-based when every user and rate key occurs once (the worker's case: one
-- message per conversation): one statement per step for all items, rows locked in
-- key order (buckets, then memory advisory locks), so concurrent callers do not
-- deadlock. Items sharing a user or a rate key depend on each other (the second
-- sees the first's token and session), so such a batch is handled item by item.
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
DECLARE
  v_ords         integer[];
  v_users        text[];
  v_preferred    text[];
  v_rate_keys    text[];
  v_convs        text[];
  v_handoffs     jsonb[];
  v_closes       timestamptz[];
  v_distinct     boolean;
  v_allowed      boolean[];
  v_retry_after  integer[];
  v_created      text[];
  v_wf_ids       bigint[];
  v_wf_types     text[];
  v_wf_steps     text[];
  v_wf_data      jsonb[];
  v_wf_versions  integer[];
  v_agents       text[];
  v_now          timestamptz := clock_timestamp();
  per_seconds    double precision := extract(epoch FROM rate_per);
  idle_interval  interval;
BEGIN
  IF jsonb_typeof(items) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'items must be a JSON array of {"user_phone", "preferred_agent", "rate_key"}'
      USING ERRCODE = '22023';
  END IF;
  IF coalesce(default_agent, '') = '' THEN
    RAISE EXCEPTION 'message_context needs a user_phone and a default_agent' USING ERRCODE = '22023';
  END IF;

  SELECT array_agg(e.ord::integer ORDER BY e.ord), array_agg(e.item->>'user_phone' ORDER BY e.ord),
         array_agg(e.item->>'preferred_agent' ORDER BY e.ord),
         array_agg(e.item->>'rate_key' ORDER BY e.ord),
         array_agg(e.item->>'conversation_key' ORDER BY e.ord),
         count(DISTINCT e.item->>'user_phone') = count(*)
           AND count(DISTINCT e.item->>'rate_key') = count(e.item->>'rate_key')
    INTO v_ords, v_users, v_preferred, v_rate_keys, v_convs, v_distinct
  FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, ord);
  IF v_ords IS NULL THEN
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(v_users) u WHERE coalesce(u, '') = '') THEN
    RAISE EXCEPTION 'message_context needs a user_phone and a default_agent' USING ERRCODE = '22023';
  END IF;

  IF NOT v_distinct THEN
    -- Items depend on each other: exactly message_context, one after another.
    FOR i IN 1 .. array_length(v_ords, 1) LOOP
      RETURN QUERY
        SELECT i, c.allowed, c.retry_after_ms, c.workflow_id, c.workflow_type, c.current_step,
               c.workflow_data, c.workflow_version, c.agent, c.memory_id, c.session_id,
               c.memory_messages, c.memory_context, b.state, c.handed_off, c.window_closes_at
        FROM wapipe.message_context(v_users[i], default_agent, known_agents, v_preferred[i],
                                    v_rate_keys[i], rate_max, rate_per, v_convs[i]) c
        LEFT JOIN wapipe.breakers b ON b.name = c.agent;
    END LOOP;
    RETURN;
  END IF;

  -- 0. Handoffs in force and windows; a handed-off item takes no rate token.
  SELECT array_agg(h.handoff ORDER BY u.i),
         array_agg(CASE WHEN u.conv IS NOT NULL THEN wapipe._window_closes_at(u.conv) END ORDER BY u.i),
         array_agg(CASE WHEN h.handoff IS NULL THEN v_rate_keys[u.i] END ORDER BY u.i)
    INTO v_handoffs, v_closes, v_rate_keys
  FROM unnest(v_convs) WITH ORDINALITY AS u(conv, i)
  LEFT JOIN LATERAL (
    SELECT jsonb_build_object('id', x.id, 'since', x.started_at, 'until', x.until,
                              'by', x.started_by, 'reason', x.reason) AS handoff
    FROM wapipe.handoffs x
    WHERE x.conversation_key = u.conv AND x.ended_at IS NULL AND x.until > now()) h ON true;

  -- 1. Rate limits (check_rate_limit's token bucket, one token per item with a key).
  v_allowed := array_fill(true, ARRAY[array_length(v_ords, 1)]);
  v_retry_after := array_fill(0, ARRAY[array_length(v_ords, 1)]);
  IF EXISTS (SELECT 1 FROM unnest(v_rate_keys) k WHERE k IS NOT NULL) THEN
    IF EXISTS (SELECT 1 FROM unnest(v_rate_keys) k WHERE k = '') THEN
      RAISE EXCEPTION 'check_rate_limit: key must not be empty' USING ERRCODE = '22023';
    END IF;
    IF rate_max IS NULL OR rate_max < 1 THEN
      RAISE EXCEPTION 'check_rate_limit: max_per_window must be at least 1, got %',
        coalesce(rate_max::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF per_seconds IS NULL OR per_seconds <= 0 THEN
      RAISE EXCEPTION 'check_rate_limit: per must be a positive interval, got %',
        coalesce(rate_per::text, 'NULL') USING ERRCODE = '22023';
    END IF;

    -- A new key starts full and this item takes one token (rows created in key order).
    WITH created AS (
      INSERT INTO wapipe.rate_limit_buckets AS b (key, tokens, updated_at)
      SELECT k, rate_max - 1, v_now
      FROM unnest(v_rate_keys) k
      WHERE k IS NOT NULL
      ORDER BY k
      ON CONFLICT ON CONSTRAINT rate_limit_buckets_pkey DO NOTHING
      RETURNING b.key)
    SELECT coalesce(array_agg(c.key), '{}') INTO v_created FROM created c;

    -- Known keys: locked in key order (a fresh snapshot sees keys others just created),
    -- refilled, and a token taken when there is one.
    WITH locked AS (
      SELECT b.key, b.tokens, b.updated_at
      FROM wapipe.rate_limit_buckets b
      WHERE b.key = ANY (v_rate_keys) AND b.key <> ALL (v_created)
      ORDER BY b.key
      FOR UPDATE
    ), refilled AS (
      SELECT l.key,
             least(rate_max::double precision,
                   l.tokens + greatest(extract(epoch FROM v_now - l.updated_at), 0)
                              * (rate_max / per_seconds)) AS tokens
      FROM locked l
    ), taken AS (
      UPDATE wapipe.rate_limit_buckets b
         SET tokens = CASE WHEN r.tokens >= 1 THEN r.tokens - 1 ELSE r.tokens END,
             updated_at = greatest(b.updated_at, v_now)
        FROM refilled r
       WHERE b.key = r.key AND b.key = ANY (v_rate_keys)
      RETURNING b.key, r.tokens >= 1 AS allowed,
                CASE WHEN r.tokens >= 1 THEN 0
                     ELSE least(ceil((1 - r.tokens) / (rate_max / per_seconds) * 1000),
                                2147483647)::integer END AS retry_after_ms)
    SELECT array_agg(coalesce(t.allowed, true) ORDER BY u.i),
           array_agg(coalesce(t.retry_after_ms, 0) ORDER BY u.i)
      INTO v_allowed, v_retry_after
    FROM unnest(v_rate_keys) WITH ORDINALITY AS u(key, i)
    LEFT JOIN taken t ON t.key = u.key;
  END IF;

  -- 2. Admitted items: the active workflow, else the agent (preferred, else the
  --    current session's when known, else the default).
  idle_interval := make_interval(secs => wapipe._setting_num('memory.session_idle_seconds'));
  SELECT array_agg(w.id ORDER BY u.i), array_agg(w.workflow_type ORDER BY u.i),
         array_agg(w.current_step ORDER BY u.i), array_agg(w.data ORDER BY u.i),
         array_agg(w.version ORDER BY u.i),
         array_agg(CASE WHEN u.allowed AND w.id IS NULL THEN coalesce(
                     nullif(u.preferred, ''),
                     (SELECT r.agent_type
                      FROM (SELECT m.agent_type FROM wapipe.ai_conversation_memory m
                            WHERE m.user_phone = u.user_phone
                              AND m.last_activity_at > now() - idle_interval
                            ORDER BY m.last_activity_at DESC, m.id DESC
                            LIMIT 1) r
                      WHERE r.agent_type = ANY (coalesce(known_agents, '{}'))),
                     default_agent) END ORDER BY u.i)
    INTO v_wf_ids, v_wf_types, v_wf_steps, v_wf_data, v_wf_versions, v_agents
  FROM unnest(v_users, v_preferred, v_allowed, v_handoffs)
         WITH ORDINALITY AS u(user_phone, preferred, allowed, handoff, i)
  LEFT JOIN LATERAL (
    SELECT x.id, x.workflow_type, x.current_step, x.data, x.version
    FROM wapipe.workflow_states x
    WHERE u.allowed AND u.handoff IS NULL AND x.user_phone = u.user_phone AND x.status = 'active' AND x.expires_at > now()
    ORDER BY x.id DESC
    LIMIT 1) w ON true;

  -- 3. One caller at a time per (user, agent), as get_or_create_conversation_memory
  --    serialises them; all locks of the batch taken in lock-key order. (A volatile
  --    output expression is evaluated after the ORDER BY.)
  PERFORM pg_advisory_xact_lock(k.lock_key)
  FROM (SELECT DISTINCT hashtextextended(
                 'wapipe.memory' || chr(31) || u.user_phone || chr(31) || u.agent, 0) AS lock_key
        FROM unnest(v_users, v_agents) AS u(user_phone, agent)
        WHERE u.agent IS NOT NULL) k
  ORDER BY k.lock_key;

  -- 4. The memory sessions (a fresh snapshot sees sessions that callers we waited for
  --    created), new ones for the rest, and each item's answer.
  RETURN QUERY
  WITH wanted AS (
    SELECT u.user_phone, u.agent, u.i
    FROM unnest(v_users, v_agents) WITH ORDINALITY AS u(user_phone, agent, i)
    WHERE u.agent IS NOT NULL
  ), found AS (
    SELECT w.i, s.id, s.session_id, s.messages, s.context
    FROM wanted w
    JOIN LATERAL (
      SELECT m.id, m.session_id, m.messages, m.context
      FROM wapipe.ai_conversation_memory m
      WHERE m.user_phone = w.user_phone AND m.agent_type = w.agent
        AND m.last_activity_at > now() - idle_interval
      ORDER BY m.last_activity_at DESC, m.id DESC
      LIMIT 1) s ON true
  ), created AS (
    INSERT INTO wapipe.ai_conversation_memory AS m (user_phone, agent_type, session_id)
    SELECT w.user_phone, w.agent, gen_random_uuid()::text
    FROM wanted w
    WHERE NOT EXISTS (SELECT 1 FROM found f WHERE f.i = w.i)
    ORDER BY w.i
    RETURNING m.id, m.user_phone, m.session_id, m.messages, m.context
  ), sessions AS (
    SELECT f.i, f.id, f.session_id, f.messages, f.context FROM found f
    UNION ALL
    SELECT w.i, c.id, c.session_id, c.messages, c.context
    FROM created c JOIN wanted w ON w.user_phone = c.user_phone
  )
  SELECT v_ords[u.i]::integer, v_allowed[u.i], v_retry_after[u.i],
         v_wf_ids[u.i], v_wf_types[u.i], v_wf_steps[u.i], v_wf_data[u.i], v_wf_versions[u.i],
         v_agents[u.i], s.id, s.session_id, s.messages, s.context, b.state,
         v_handoffs[u.i], v_closes[u.i]
  FROM generate_subscripts(v_ords, 1) AS u(i)
  LEFT JOIN sessions s ON s.i = u.i
  LEFT JOIN wapipe.breakers b ON b.name = v_agents[u.i]
  ORDER BY u.i;
END
$$;
COMMENT ON FUNCTION wapipe.message_contexts(jsonb, text, text[], integer, interval) IS
  'message_context for many items ([{"user_phone", "preferred_agent", "rate_key", "conversation_key"}]) in one round trip and one transaction, each item answered as if the calls ran one after another (set-based when users and rate keys are distinct, else item by item). Returns one row per item (ord from 1) with message_context''s columns plus breaker_state, the chosen agent''s stored breaker state (a read: no trial slot taken), handed_off and window_closes_at. Raises 22023 for a malformed items array, an empty user_phone or default_agent, or bad rate settings.';

REVOKE ALL ON FUNCTION wapipe.message_contexts(jsonb, text, text[], integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.message_contexts(jsonb, text, text[], integer, interval) TO wapipe_worker;
