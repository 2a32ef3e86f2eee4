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

-- wapipe._context_items: what message_contexts is asked for each message, by the one routing rule.
-- Returns a JSON array, in the order of messages, of {user_phone, conversation_key, preferred_agent, rate_key, bypass_workflow}.
--
-- messages = [{"message_id", "user_phone", "conversation_key", "message_type", "body",
-- "attempt", "bypass_workflow"}] (the claim's facts: a caller in the claim's own
-- statement would not see its attempt in the table yet). The user is the sender; the
-- preferred agent is keyword_agent of a text message's body (rules), none for other
-- types; the rate-limit key is 'user:<wa_id>' on a message's first attempt when it
-- never waited for a service (a retry, or a message claimed again after a deferral,
-- was already let in), none when not rate_limited, and none for a message asked for
-- again past its workflow (bypass_workflow: its first context took its token).
-- claim_messages and context_items use it; the worker holds no copy.
CREATE OR REPLACE FUNCTION wapipe._context_items(messages jsonb, rules jsonb, rate_limited boolean)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
AS $$
BEGIN
  RETURN (
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'user_phone', e.msg->>'user_phone', 'conversation_key', e.msg->>'conversation_key',
           'bypass_workflow', e.msg->'bypass_workflow' IS NOT DISTINCT FROM 'true',
           'preferred_agent',
             CASE WHEN e.msg->>'message_type' = 'text' AND jsonb_array_length(rules) > 0
                  THEN wapipe.keyword_agent(e.msg->>'body', rules) END,
           'rate_key',
             CASE WHEN (e.msg->>'attempt')::integer <= 1 AND rate_limited
                       AND e.msg->'bypass_workflow' IS DISTINCT FROM 'true'
                       AND (SELECT m.deferrals FROM wapipe.processed_messages m
                            WHERE m.id = (e.msg->>'message_id')::bigint) = 0
                  THEN 'user:' || (e.msg->>'user_phone') END)
         ORDER BY e.ord), '[]')
  FROM jsonb_array_elements(messages) WITH ORDINALITY AS e(msg, ord));
END
$$;
COMMENT ON FUNCTION wapipe._context_items(jsonb, jsonb, boolean) IS
  'message_contexts items for messages [{message_id, user_phone, conversation_key, message_type, body, attempt, bypass_workflow}]: the sender, keyword_agent of a text body as preferred agent, rate key user:<wa_id> on a first attempt that never waited (when rate_limited; never with bypass_workflow), bypass_workflow passed on. The one routing rule of claim_messages and context_items.';
REVOKE ALL ON FUNCTION wapipe._context_items(jsonb, jsonb, boolean) FROM PUBLIC;

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
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
AS $$
BEGIN
  RETURN wapipe._context_items(
           coalesce((SELECT jsonb_agg(jsonb_build_object(
                              'message_id', m.id, 'user_phone', m.from_wa_id,
                              'conversation_key', m.conversation_key,
                              'message_type', m.message_type, 'body', m.payload->'text'->>'body',
                              'attempt', m.attempts,
                              'bypass_workflow', coalesce(context_items.bypass_workflow, false))
                            ORDER BY i.ord)
                     FROM unnest(context_items.message_ids) WITH ORDINALITY AS i(id, ord)
                     JOIN wapipe.processed_messages m ON m.id = i.id), '[]'),
           coalesce(context_items.rules, '[]'), context_items.rate_max IS NOT NULL);
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
-- message_contexts for the claimed messages in claim order, each item built by the
-- routing rule (_context_items, above): the user is the sender; the preferred agent
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

  RETURN QUERY
  WITH claimed AS MATERIALIZED (
    SELECT q.*, q.ordinality::integer AS ord
    FROM wapipe.get_next_queue_message(claim_messages.worker_id, claim_messages.lock_seconds,
                                       claim_messages.batch) WITH ORDINALITY AS q
  ), contexts AS MATERIALIZED (
    SELECT x.*
    FROM wapipe.message_contexts(
           wapipe._context_items(
             (SELECT coalesce(jsonb_agg(jsonb_build_object(
                        'message_id', c.message_id, 'user_phone', c.from_wa_id,
                        'conversation_key', c.conversation_key, 'message_type', c.message_type,
                        'body', c.payload->'text'->>'body', 'attempt', c.attempt)
                      ORDER BY c.ord), '[]')
              FROM claimed c),
             v_rules, claim_messages.rate_max IS NOT NULL),
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
  'get_next_queue_message, then message_contexts for the claimed messages (sender; keyword_agent of a text body by rules; rate key user:<wa_id> on a first attempt), then, for text heads whose agent coalesces (coalesce_seconds {"agent": seconds}), the queued texts behind them (_claim_turns), in one transaction: one row per claimed message with the claim''s and the context''s columns and its burst (NULL: no turn opened). Raises 22023 for an empty default_agent, malformed rules or coalesce_seconds (nothing claimed), and what the two functions raise.';

REVOKE ALL ON FUNCTION wapipe.claim_messages(text, integer, integer, text, text[], jsonb, integer, interval, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.claim_messages(text, integer, integer, text, text[], jsonb, integer, interval, jsonb) TO wapipe_worker;
