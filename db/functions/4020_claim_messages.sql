-- wapipe.keyword_agent: the agent of the first routing rule whose keywords occur in a text.
-- Returns that rule's agent, or NULL when no rule matches (or there is no text).
--
-- rules = [{"keywords": ["menu", "order"], "agent": "waiter"}, ...], first match wins.
-- A text's words are its runs of letters, digits and underscores (\w), compared
-- lowercased: "MENU!" has the word "menu", "menu-card" the words "menu" and "card",
-- "pay_bill" only "pay_bill". The one matcher: claims route by it (_context_items),
-- and the worker asks it for its handoff keywords (one rule per word).
CREATE OR REPLACE FUNCTION wapipe.keyword_agent(body text, rules jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  RETURN (
    SELECT r.rule->>'agent'
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(rules) = 'array' THEN rules ELSE '[]' END)
           WITH ORDINALITY AS r(rule, n)
    WHERE jsonb_typeof(r.rule->'keywords') = 'array'
      AND EXISTS (SELECT 1
                  FROM jsonb_array_elements_text(r.rule->'keywords') AS k(word)
                  WHERE lower(k.word) = ANY (ARRAY(SELECT lower(w[1])
                                                   FROM regexp_matches(body, '(\w+)', 'g') AS w)))
    ORDER BY r.n
    LIMIT 1);
END
$$;
COMMENT ON FUNCTION wapipe.keyword_agent(text, jsonb) IS
  'The agent of the first rule ([{"keywords": [..], "agent": ..}]) with a keyword among the words (\w runs, lowercased) of body; NULL when none matches.';

REVOKE ALL ON FUNCTION wapipe.keyword_agent(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.keyword_agent(text, jsonb) TO wapipe_worker;

-- wapipe._context_items: the routing rule: what message_contexts is asked for each message.
-- Returns one row: preferred_agents and rate_keys, arrays aligned with the messages (NULL arrays for none).
--
-- messages as aligned arrays (message_ids, users, message_types, bodies, attempts: the
-- claim's facts, as a caller in the claim's own statement would not see its attempt in
-- the table yet). The user is the sender; the preferred agent is keyword_agent of a
-- text message's body (rules), none for other types; the rate-limit key is
-- 'user:<wa_id>' on a message's first attempt when it never waited for a service (a
-- retry, or a message claimed again after a deferral, was already let in), none when
-- not rate_limited, and none for messages asked for again past their workflow
-- (bypass_workflow: their first context took the token). Arrays, not JSON: claim_messages
-- hands them to wapipe._message_contexts as they are; context_items builds its JSON
-- items from them. The worker holds no copy.
CREATE OR REPLACE FUNCTION wapipe._context_items(
  message_ids bigint[], users text[], message_types text[], bodies text[], attempts integer[],
  rules jsonb, rate_limited boolean, bypass_workflow boolean,
  OUT preferred_agents text[], OUT rate_keys text[])
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
  -- (no planner settings of its own: it plans under its callers', which all set them)
AS $$
BEGIN
  SELECT array_agg(CASE WHEN u.message_type = 'text' AND jsonb_array_length(rules) > 0
                        THEN wapipe.keyword_agent(u.body, rules) END ORDER BY u.i),
         array_agg(CASE WHEN u.attempt <= 1 AND rate_limited AND bypass_workflow IS NOT TRUE
                             AND (SELECT m.deferrals FROM wapipe.processed_messages m
                                  WHERE m.id = u.message_id) = 0
                        THEN 'user:' || u.user_phone END ORDER BY u.i)
    INTO preferred_agents, rate_keys
  FROM unnest(message_ids, users, message_types, bodies, attempts)
         WITH ORDINALITY AS u(message_id, user_phone, message_type, body, attempt, i);
END
$$;
COMMENT ON FUNCTION wapipe._context_items(bigint[], text[], text[], text[], integer[], jsonb, boolean, boolean) IS
  'Private: the one routing rule of claim_messages and context_items, for messages as aligned arrays (ids, senders, types, bodies, attempts): keyword_agent of a text body as preferred agent, rate key user:<wa_id> on a first attempt that never waited (when rate_limited; never with bypass_workflow). Returns (preferred_agents, rate_keys), aligned with the messages.';
REVOKE ALL ON FUNCTION wapipe._context_items(bigint[], text[], text[], text[], integer[], jsonb, boolean, boolean) FROM PUBLIC;

-- wapipe.context_items: the routing rule for stored messages a worker holds (its claim came without contexts).
-- Returns message_contexts' items for message_ids (processed_messages ids), in their order.
--
-- bypass_workflow: the messages were claimed with a context that named the user's
-- active workflow, and the workflow's step did not take them; their items ask for the
-- agent and memory they would get without the workflow (and no second rate token).
CREATE OR REPLACE FUNCTION wapipe.context_items(message_ids bigint[], rules jsonb, rate_max integer,
                                                bypass_workflow boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
  -- (the planner settings of the helpers it calls, which have none of their own)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
BEGIN
  RETURN (
    SELECT coalesce(jsonb_agg(jsonb_build_object(
                      'user_phone', s.users[g.i], 'conversation_key', s.convs[g.i],
                      'bypass_workflow', coalesce(context_items.bypass_workflow, false),
                      'preferred_agent', r.preferred_agents[g.i], 'rate_key', r.rate_keys[g.i])
                    ORDER BY g.i), '[]')
    FROM (SELECT array_agg(m.id ORDER BY i.ord) AS ids, array_agg(m.from_wa_id ORDER BY i.ord) AS users,
                 array_agg(m.conversation_key ORDER BY i.ord) AS convs,
                 array_agg(m.message_type ORDER BY i.ord) AS types,
                 array_agg(m.payload->'text'->>'body' ORDER BY i.ord) AS bodies,
                 array_agg(m.attempts ORDER BY i.ord) AS attempts
          FROM unnest(context_items.message_ids) WITH ORDINALITY AS i(id, ord)
          JOIN wapipe.processed_messages m ON m.id = i.id) s
    CROSS JOIN LATERAL wapipe._context_items(s.ids, s.users, s.types, s.bodies, s.attempts,
                                             coalesce(context_items.rules, '[]'),
                                             context_items.rate_max IS NOT NULL,
                                             coalesce(context_items.bypass_workflow, false)) r
    CROSS JOIN LATERAL generate_subscripts(s.ids, 1) AS g(i));
END
$$;
COMMENT ON FUNCTION wapipe.context_items(bigint[], jsonb, integer, boolean) IS
  'message_contexts items for stored messages (ids in order; unknown ids left out) by the routing rule claim_messages applies (_context_items): the worker asks this instead of routing in Python. bypass_workflow: items for messages the active workflow did not take (no workflow looked at, no rate key).';
REVOKE ALL ON FUNCTION wapipe.context_items(bigint[], jsonb, integer, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.context_items(bigint[], jsonb, integer, boolean) TO wapipe_worker;

-- wapipe.claim_messages: claim conversation heads and answer what the worker needs to handle each, in one round trip.
-- Returns one row per claimed message: get_next_queue_message's columns, then message_contexts' for it (its ord left out).
--
-- One transaction: get_next_queue_message(worker_id, lock_seconds, batch), then
-- message_contexts' rule (_message_contexts, 4000) for the claimed messages in claim
-- order, each item built by the routing rule (_context_items, above): the user is the sender; the preferred agent
-- is keyword_agent of a text message's body (rules), none for other types; the
-- rate-limit key is 'user:<wa_id>' on a message's first attempt only (a retry, or a
-- message claimed again after a deferral, was already let in), none without rate_max. A call that fails claims nothing: the claim rolls back with
-- the contexts, so the messages stay where they were.
-- Coalescing: coalesce_seconds = {"agent": seconds, ...} (per service; absent or 0:
-- off). A text head that goes to an agent (let in by the rate limit, no active
-- workflow) whose coalesce_seconds is above 0 opens a turn: the queued texts right
-- behind it join it by the one rule of wapipe._claim_turns (1045), recorded on the
-- head, and come back in `burst` (a JSON array in conversation order of {msg_id,
-- message_id, wamid, payload, received_at}; '[]' when none). `burst` is NULL for a
-- head that opens no turn. The worker answers the head and its burst with one agent
-- call and one reply; completing the head completes them.
-- Plans: generic, key walks only, like the two functions it calls.
-- Durability: the claim's transaction commits asynchronously (synchronous_commit off,
-- local to the transaction; call it in a transaction of its own, as the worker does).
-- A claim lost in a server crash is a claim that never happened: its messages are
-- claimed again, as after a worker crash (the agent may be asked twice, which a crash
-- during the agent's call can do anyway). Nothing a claim writes needs to outlive a
-- crash on its own (leases, attempts, rate tokens, memory sessions, turns, dead-lettered
-- or put-back conversations are all done again), and what depends on it, the
-- completion with its reply, commits synchronously, which flushes the claim's WAL
-- first (the log is flushed in order). The worker no longer waits for a disk flush
-- per claim: +7 % messages/s at concurrency 16 (bench.worker, 5 alternating runs).
CREATE OR REPLACE FUNCTION wapipe.claim_messages(
  worker_id text, lock_seconds integer, batch integer, default_agent text,
  known_agents text[] DEFAULT '{}', rules jsonb DEFAULT '[]',
  rate_max integer DEFAULT NULL, rate_per interval DEFAULT NULL,
  coalesce_seconds jsonb DEFAULT '{}')
RETURNS TABLE (
  msg_id bigint, message_id bigint, wamid text, conversation_key text, phone_number_id text,
  from_wa_id text, message_type text, priority smallint, attempt integer, payload jsonb,
  contact jsonb, correlation_id text, locked_until timestamptz,
  allowed boolean, retry_after_ms integer,
  workflow_id bigint, workflow_type text, current_step text, workflow_data jsonb,
  workflow_version integer,
  agent text, memory_id bigint, session_id text, memory_messages jsonb, memory_context jsonb,
  breaker_state text, handed_off jsonb, window_closes_at timestamptz, burst jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
#variable_conflict use_column
DECLARE
  v_rules jsonb := coalesce(rules, '[]');
  v_gaps  jsonb := coalesce(claim_messages.coalesce_seconds, '{}');
BEGIN
  -- refused before anything is claimed
  IF coalesce(default_agent, '') = '' THEN
    RAISE EXCEPTION 'claim_messages needs a default_agent' USING ERRCODE = '22023';
  END IF;
  IF jsonb_typeof(v_rules) <> 'array'
     OR EXISTS (SELECT 1 FROM jsonb_array_elements(v_rules) r(rule)
                WHERE jsonb_typeof(r.rule) <> 'object'
                   OR jsonb_typeof(r.rule->'agent') IS DISTINCT FROM 'string'
                   OR jsonb_typeof(r.rule->'keywords') IS DISTINCT FROM 'array'
                   OR EXISTS (SELECT 1 FROM jsonb_array_elements(r.rule->'keywords') k(word)
                              WHERE jsonb_typeof(k.word) <> 'string')) THEN
    RAISE EXCEPTION 'rules must be a JSON array of {"keywords": ["word", ...], "agent": "name"}'
      USING ERRCODE = '22023';
  END IF;
  IF jsonb_typeof(v_gaps) <> 'object'
     OR EXISTS (SELECT 1 FROM jsonb_each(v_gaps) g(agent, seconds)
                WHERE jsonb_typeof(g.seconds) <> 'number' OR (g.seconds #>> '{}')::numeric < 0) THEN
    RAISE EXCEPTION 'coalesce_seconds must be a JSON object {"agent": seconds >= 0, ...}'
      USING ERRCODE = '22023';
  END IF;
  -- (see Durability above)
  PERFORM set_config('synchronous_commit', 'off', true);

  RETURN QUERY
  WITH claimed AS MATERIALIZED (
    SELECT q.*, q.ordinality::integer AS ord
    FROM wapipe.get_next_queue_message(claim_messages.worker_id, claim_messages.lock_seconds,
                                       claim_messages.batch) WITH ORDINALITY AS q
  ), batch AS MATERIALIZED (
    SELECT array_agg(c.message_id ORDER BY c.ord) AS ids, array_agg(c.from_wa_id ORDER BY c.ord) AS users,
           array_agg(c.conversation_key ORDER BY c.ord) AS convs,
           array_agg(c.message_type ORDER BY c.ord) AS types,
           array_agg(c.payload->'text'->>'body' ORDER BY c.ord) AS bodies,
           array_agg(c.attempt ORDER BY c.ord) AS attempts
    FROM claimed c
  ), contexts AS MATERIALIZED (
    -- the routing rule and the context rule, handed arrays (no JSON built and parsed back)
    SELECT x.*
    FROM batch b
    CROSS JOIN LATERAL wapipe._context_items(b.ids, b.users, b.types, b.bodies, b.attempts, v_rules,
                                             claim_messages.rate_max IS NOT NULL, false) r
    CROSS JOIN LATERAL wapipe._message_contexts(b.users, r.preferred_agents, r.rate_keys, b.convs, NULL,
                                                claim_messages.default_agent, claim_messages.known_agents,
                                                claim_messages.rate_max, claim_messages.rate_per) x
  ), openers AS MATERIALIZED (
    -- heads that open a turn: texts for an agent that coalesces
    SELECT c.ord, c.message_id, (v_gaps->>x.agent)::numeric AS gap
    FROM claimed c
    JOIN contexts x ON x.ord = c.ord
    WHERE c.message_type = 'text' AND x.allowed AND x.workflow_id IS NULL
      AND (v_gaps->>x.agent)::numeric > 0
  ), turns AS MATERIALIZED (
    SELECT t.head_id, t.burst
    FROM wapipe._claim_turns(ARRAY(SELECT o.message_id FROM openers o ORDER BY o.ord),
                             ARRAY(SELECT o.gap FROM openers o ORDER BY o.ord)) t
    WHERE EXISTS (SELECT 1 FROM openers)
  )
  SELECT c.msg_id, c.message_id, c.wamid, c.conversation_key, c.phone_number_id, c.from_wa_id,
         c.message_type, c.priority, c.attempt, c.payload, c.contact, c.correlation_id,
         c.locked_until,
         x.allowed, x.retry_after_ms, x.workflow_id, x.workflow_type, x.current_step,
         x.workflow_data, x.workflow_version, x.agent, x.memory_id, x.session_id,
         x.memory_messages, x.memory_context, x.breaker_state, x.handed_off, x.window_closes_at,
         CASE WHEN o.ord IS NOT NULL THEN coalesce(t.burst, '[]') END
  FROM claimed c
  JOIN contexts x ON x.ord = c.ord
  LEFT JOIN openers o ON o.ord = c.ord
  LEFT JOIN turns t ON t.head_id = c.message_id
  ORDER BY c.ord;
END
$$;
COMMENT ON FUNCTION wapipe.claim_messages(text, integer, integer, text, text[], jsonb, integer, interval, jsonb) IS
  'get_next_queue_message, then message_contexts for the claimed messages (sender; keyword_agent of a text body by rules; rate key user:<wa_id> on a first attempt), then, for text heads whose agent coalesces (coalesce_seconds {"agent": seconds}), the queued texts behind them (_claim_turns), in one transaction: one row per claimed message with the claim''s and the context''s columns and its burst (NULL: no turn opened). Its transaction commits asynchronously (synchronous_commit off, transaction-local: a claim lost in a crash is claimed again; the completion commits synchronously). Raises 22023 for an empty default_agent, malformed rules or coalesce_seconds (nothing claimed), and what the two functions raise.';

REVOKE ALL ON FUNCTION wapipe.claim_messages(text, integer, integer, text, text[], jsonb, integer, interval, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.claim_messages(text, integer, integer, text, text[], jsonb, integer, interval, jsonb) TO wapipe_worker;
