-- wapipe._completion_refusal: why a completion item whose claim holds is refused.
-- Returns the message of the refusal (22023; "invalid input syntax" (22P02) for a memory_id that is no integer), or NULL.
--
-- THE list of completion refusals, in the order of checks: the reply, the memory's
-- shape, the workflow action, then the memory entries in the order they are appended
-- (role and content of each; the context and the session with the first: a session
-- is known when its id is in known_memory_ids). complete_messages decides each item's
-- verdict with it, update_conversation_memory checks its one entry with it.
-- A pure expression (plain SQL, no subquery): inlined into those statements, so the
-- batch pays no call per item (db/README.md house rules).
CREATE OR REPLACE FUNCTION wapipe._completion_refusal(item jsonb, known_memory_ids bigint[])
RETURNS text
LANGUAGE sql STABLE
RETURN CASE
  WHEN jsonb_typeof(item->'reply') NOT IN ('array', 'object', 'null')
    THEN 'reply must be a Graph API message object or an array of them'
  WHEN jsonb_path_exists(CASE jsonb_typeof(item->'reply') WHEN 'array' THEN item->'reply'
                                                          WHEN 'object' THEN jsonb_build_array(item->'reply')
                                                          ELSE '[]' END,
         '$[*] ? (@.type() != "object" || !(exists(@.type)) || @.type == null || @.type == "")')
    THEN 'every reply must be an object with a "type", e.g. {"type":"text","text":{"body":"hi"}}'
  WHEN coalesce(jsonb_typeof(item->'memory'), 'null') <> 'null'
       AND (jsonb_typeof(item->'memory') <> 'object'
            OR jsonb_typeof(item->'memory'->'memory_id') IS DISTINCT FROM 'number'
            OR jsonb_typeof(coalesce(item->'memory'->'append', '[]')) <> 'array')
    THEN 'memory must be {"memory_id": N, "append": [{"role": .., "content": ..}], "context": {..}}'
  WHEN coalesce(jsonb_typeof(item->'workflow'), 'null') <> 'null'
       AND coalesce(item->'workflow'->>'action', '') NOT IN ('start', 'advance', 'complete', 'fail')
    THEN format('workflow.action must be start, advance, complete or fail, got %s',
                coalesce(item->'workflow'->>'action', 'nothing'))
  -- nothing appended: the memory entries' checks do not apply
  WHEN jsonb_typeof(item->'memory') IS DISTINCT FROM 'object' OR item->'memory'->'append'->0 IS NULL
    THEN NULL
  WHEN item->'memory'->>'memory_id' !~ '^-?[0-9]{1,18}$'
    THEN format('invalid input syntax for type bigint: "%s"', item->'memory'->>'memory_id')
  WHEN coalesce(item->'memory'->'append'->0->>'role', '') NOT IN ('user', 'assistant', 'system', 'tool')
    THEN format('update_conversation_memory: role must be user, assistant, system or tool, got %s',
                coalesce(quote_literal(left(item->'memory'->'append'->0->>'role', 40)), 'NULL'))
  WHEN item->'memory'->'append'->0->>'content' IS NULL
    THEN 'update_conversation_memory: content must not be NULL'
  WHEN item->'memory'->'context' IS NOT NULL AND jsonb_typeof(item->'memory'->'context') <> 'object'
    THEN format('update_conversation_memory: context must be a JSON object, got %s',
                jsonb_typeof(item->'memory'->'context'))
  WHEN (item->'memory'->>'memory_id')::bigint <> ALL (coalesce(known_memory_ids, '{}'))
    THEN format('update_conversation_memory: no conversation memory with id %s', item->'memory'->>'memory_id')
  -- a later entry (the first is good): the first bad one's role, else its content
  WHEN NOT jsonb_path_exists(item->'memory'->'append', '$[*] ? (@.type() != "object"
         || !(exists(@.role)) || @.role.type() != "string"
         || !(@.role == "user" || @.role == "assistant" || @.role == "system" || @.role == "tool")
         || !(exists(@.content)) || @.content == null)')
    THEN NULL
  WHEN coalesce(jsonb_path_query_first(item->'memory'->'append', '$[*] ? (@.type() != "object"
         || !(exists(@.role)) || @.role.type() != "string"
         || !(@.role == "user" || @.role == "assistant" || @.role == "system" || @.role == "tool")
         || !(exists(@.content)) || @.content == null)')->>'role', '')
       NOT IN ('user', 'assistant', 'system', 'tool')
    THEN format('update_conversation_memory: role must be user, assistant, system or tool, got %s',
                coalesce(quote_literal(left(jsonb_path_query_first(item->'memory'->'append',
                  '$[*] ? (@.type() != "object" || !(exists(@.role)) || @.role.type() != "string"
                   || !(@.role == "user" || @.role == "assistant" || @.role == "system" || @.role == "tool")
                   || !(exists(@.content)) || @.content == null)')->>'role', 40)), 'NULL'))
  ELSE 'update_conversation_memory: content must not be NULL'
END;
COMMENT ON FUNCTION wapipe._completion_refusal(jsonb, bigint[]) IS
  'Private (pure, inlined): the one list of completion refusals: the 22023 message (22P02 for a memory_id that is no integer) an item whose claim holds is refused with (reply, memory shape, workflow action, then each memory entry; a session is known when its id is in known_memory_ids), or NULL.';
REVOKE ALL ON FUNCTION wapipe._completion_refusal(jsonb, bigint[]) FROM PUBLIC;

-- wapipe._apply_workflow_action: apply a completion's workflow action (the one dispatch of them).
-- Returns nothing; raises what the workflow function raises (the completion then rolls back).
CREATE OR REPLACE FUNCTION wapipe._apply_workflow_action(
  workflow jsonb, from_wa_id text, phone_number_id text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  -- Workflow functions live in their own files and are resolved at run time.
  CASE workflow->>'action'
    WHEN 'start' THEN
      PERFORM wapipe.start_workflow(
        coalesce(workflow->>'user_phone', from_wa_id), workflow->>'workflow_type',
        workflow->>'first_step', coalesce(workflow->'data', '{}'),
        coalesce((workflow->>'timeout')::interval,
                 make_interval(secs => wapipe._setting_num('workflow.default_timeout_seconds')::double precision)),
        coalesce(workflow->>'phone_number_id', phone_number_id));
    WHEN 'advance' THEN
      PERFORM wapipe.advance_workflow(
        (workflow->>'id')::bigint, workflow->>'expected_step', workflow->>'next_step',
        coalesce(workflow->'data', '{}'));
    WHEN 'complete' THEN
      PERFORM wapipe.complete_workflow((workflow->>'id')::bigint, workflow->'data');
    WHEN 'fail' THEN
      PERFORM wapipe.fail_workflow((workflow->>'id')::bigint, workflow->>'error');
    ELSE
      NULL;
  END CASE;
END
$$;
COMMENT ON FUNCTION wapipe._apply_workflow_action(jsonb, text, text) IS
  'Private: the one dispatch of a completion''s workflow action (start for the sender on the receiving number, advance, complete, fail).';
REVOKE ALL ON FUNCTION wapipe._apply_workflow_action(jsonb, text, text) FROM PUBLIC;

-- wapipe.complete_messages: complete_message for many messages one worker holds, in one transaction, each on its own.
-- Returns one row per item (ord = its position, from 1): outcome 'done' with the message id, outbox ids and processing time, 'claim_lost' or 'rejected' with the SQLSTATE and message complete_message would have raised.
--
-- items = [{"msg_id": N, "reply": .., "memory": .., "workflow": .., "handled_by": ..}, ...]:
-- each item means what complete_message(msg_id, worker_id, reply, memory, workflow,
-- handled_by) means. An item complete_message would refuse is refused alone and
-- leaves no trace, while the others complete: claim_lost (WA001: not held, or the
-- lease was taken over) or rejected (22023: malformed reply, memory or workflow, a
-- bad memory entry, an unknown memory_id). An item for a message this worker already
-- completed gets the first result back; so does a later item with the same msg_id.
-- A head whose claim took a burst into its turn (turn_followers, 1045) completes its
-- followers with it: done, archived, no reply of their own.
--
-- Set-based, without subtransactions: the conversations of all items are locked up
-- front in key order (the order ingest locks them in; wapipe._claims_held, the one
-- claim rule, locks them and reads each claim), then their memory sessions in id
-- order; every item is checked after those locks (wapipe._completion_refusal, the one
-- list of refusals), one statement writes all accepted items (archive, status, outbox),
-- one call appends their memory (wapipe._append_memory). Workflow actions (rare: interactive flows) run one by one after it; one
-- that fails (step moved, one already active, ...) raises and the whole call rolls
-- back, so the caller completes the items one by one with complete_message (this
-- function's batch of one) instead.
-- The rare cases (a refusal's message, the same message twice) cost statements only
-- when they occur. Plans: generic, and never a sequential scan (every access is by
-- key; a plan made while a table was still small must not keep scanning it).
CREATE OR REPLACE FUNCTION wapipe.complete_messages(worker_id text, items jsonb)
RETURNS TABLE (ord integer, msg_id bigint, outcome text, message_id bigint, outbox_ids bigint[],
               processing_ms integer, error_code text, error text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
#variable_conflict use_column
DECLARE
  v_count       integer;
  v_bad_ids     boolean;
  v_repeated    boolean;    -- some msg_id occurs twice
  v_turns       boolean;    -- some accepted head answered a coalesced turn (turn_followers)
  v_workflows   boolean;    -- some item has a workflow action
  v_memory_ids  bigint[];   -- sessions the items append to, locked and found
  v_completed   integer;
  v_archived    integer;
  v_mem_ids      bigint[];  -- per session appended to: its entries and merged context
  v_mem_entries  jsonb[];
  v_mem_contexts jsonb[];
  -- one entry per item; v_ords says which (the arrays are aligned, not sorted)
  v_ords        integer[];
  v_msg_ids     bigint[];
  v_verdicts    text[];     -- complete | repeat | claim_lost | rejected
  v_errors      text[];
  v_ids         bigint[];
  v_wamids      text[];
  v_convs       text[];
  v_queue_ids   bigint[];
  v_took_ms     integer[];
  -- per item (ord): the message as read under the conversation locks, and whether the worker holds it
  v_claimed     wapipe.processed_messages[];
  v_held        boolean[];
BEGIN
  IF jsonb_typeof(items) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'items must be a JSON array of {"msg_id", "reply", "memory", "workflow", "handled_by"}'
      USING ERRCODE = '22023';
  END IF;
  SELECT count(*),
         bool_or(jsonb_typeof(e.item->'msg_id') IS DISTINCT FROM 'number'
                 OR (e.item->>'msg_id')::numeric <> trunc((e.item->>'msg_id')::numeric)),
         count(DISTINCT e.item->>'msg_id') < count(*),
         bool_or(coalesce(jsonb_typeof(e.item->'workflow'), 'null') <> 'null'),
         array_agg(DISTINCT (e.item->'memory'->>'memory_id')::bigint)
           FILTER (WHERE jsonb_typeof(e.item->'memory'->'memory_id') = 'number'
                     AND e.item->'memory'->>'memory_id' ~ '^-?[0-9]{1,18}$'
                     AND jsonb_typeof(e.item->'memory'->'append') = 'array'
                     AND jsonb_array_length(e.item->'memory'->'append') > 0)
    INTO v_count, v_bad_ids, v_repeated, v_workflows, v_memory_ids
  FROM jsonb_array_elements(items) AS e(item);
  IF v_count = 0 THEN
    RETURN;
  END IF;
  IF v_bad_ids THEN
    RAISE EXCEPTION 'every item needs an integer msg_id' USING ERRCODE = '22023';
  END IF;
  v_msg_ids := ARRAY(SELECT (e.item->>'msg_id')::bigint
                     FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, n) ORDER BY e.n);

  -- 1. The claim rule (wapipe._claims_held, 0015): the conversations of every item
  --    locked in key order, each message read again under that lock; then the memory
  --    sessions the items append to, in id order (every completion locks in this order).
  SELECT array_agg(h.msg ORDER BY h.ord), array_agg(h.held ORDER BY h.ord)
    INTO v_claimed, v_held
  FROM wapipe._claims_held(v_msg_ids, complete_messages.worker_id) h;
  IF v_memory_ids IS NOT NULL THEN
    v_memory_ids := ARRAY(SELECT am.id FROM wapipe.ai_conversation_memory am
                          WHERE am.id = ANY (v_memory_ids)
                          ORDER BY am.id
                          FOR UPDATE);
  END IF;

  -- 2. Each item's verdict, in this order: repeat, claim (as read under the conversation
  --    locks), then the completion refusals (wapipe._completion_refusal, inlined).
  SELECT array_agg(x.ord), array_agg(x.verdict), array_agg(x.id), array_agg(x.wamid),
         array_agg(x.conversation_key), array_agg(x.queue_msg_id),
         array_agg(greatest(0, round(extract(epoch FROM now() - x.claimed_at) * 1000))::integer),
         array_agg(CASE WHEN x.verdict = 'rejected' THEN x.refusal END),
         bool_or(x.verdict = 'complete' AND x.turn_followers IS NOT NULL)
    INTO v_ords, v_verdicts, v_ids, v_wamids, v_convs, v_queue_ids, v_took_ms, v_errors, v_turns
  FROM (
    SELECT r.ord, r.id, r.wamid, r.conversation_key, r.queue_msg_id, r.claimed_at, r.refusal,
      r.turn_followers,
      CASE
        WHEN r.status = 'done' AND r.claimed_by = complete_messages.worker_id THEN 'repeat'
        WHEN NOT v_held[r.ord] THEN 'claim_lost'
        WHEN r.refusal IS NOT NULL THEN 'rejected'
        ELSE 'complete' END AS verdict
    FROM (SELECT e.n::integer AS ord, m.id, m.wamid, m.conversation_key, m.queue_msg_id, m.claimed_at,
                 m.status, m.claimed_by, m.turn_followers,
                 wapipe._completion_refusal(e.item, v_memory_ids) AS refusal
          FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, n)
          CROSS JOIN LATERAL (SELECT (v_claimed[e.n]).*) m
          OFFSET 0) r  -- (a fence: each item's refusal and verdict evaluated once, not per reference)
    OFFSET 0) x;

  IF v_repeated THEN
    -- of several acceptable items for one message, the first completes it
    v_verdicts := ARRAY(
      SELECT CASE WHEN u.verdict = 'complete'
                   AND EXISTS (SELECT 1 FROM unnest(v_ords, v_verdicts) AS o(ord, verdict)
                               WHERE v_msg_ids[o.ord] = v_msg_ids[u.ord] AND o.verdict = 'complete'
                                 AND o.ord < u.ord)
                  THEN 'repeat' ELSE u.verdict END
      FROM unnest(v_ords, v_verdicts) WITH ORDINALITY AS u(ord, verdict, i)
      ORDER BY u.i);
  END IF;

  IF 'complete' = ANY (v_verdicts) THEN
    -- 3. Every accepted item in one statement: out of the queue into pgmq's archive
    --    (one call of the queue's archive, 0020_queue_primitives), done, and its
    --    replies queued once per (wamid, seq) in item order.
    WITH accepted AS (
      SELECT u.ord, u.id, u.wamid, u.queue_msg_id, u.took_ms, m.phone_number_id, m.from_wa_id,
             m.correlation_id, items->(u.ord - 1) AS item
      FROM unnest(v_ords, v_verdicts, v_ids, v_wamids, v_queue_ids, v_took_ms)
             AS u(ord, verdict, id, wamid, queue_msg_id, took_ms)
      JOIN wapipe.processed_messages m ON m.id = u.id
      WHERE u.verdict = 'complete'
    ), archived AS MATERIALIZED (
      SELECT wapipe._inbound_archive(ARRAY(SELECT a.queue_msg_id FROM accepted a)) AS n
    ), finished AS (
      UPDATE wapipe.processed_messages m
         SET status = 'done', processed_at = now(), processing_ms = a.took_ms,
             handled_by = a.item->>'handled_by', next_attempt_at = NULL
        FROM accepted a
       WHERE m.id = a.id
      RETURNING 1
    ), replied AS (
      INSERT INTO wapipe.outbox (source_key, seq, source_message_id, phone_number_id, to_wa_id, body,
                                 correlation_id)
      SELECT a.wamid, (r.seq - 1)::smallint, a.id, a.phone_number_id, a.from_wa_id, r.body,
             a.correlation_id
      FROM accepted a
      CROSS JOIN LATERAL jsonb_array_elements(CASE jsonb_typeof(a.item->'reply')
                                                WHEN 'array' THEN a.item->'reply'
                                                WHEN 'object' THEN jsonb_build_array(a.item->'reply')
                                                ELSE '[]' END) WITH ORDINALITY AS r(body, seq)
      ORDER BY a.ord, r.seq
      ON CONFLICT (source_key, seq) DO NOTHING
      RETURNING 1
    )
    -- (every data-modifying CTE runs to completion; archived, a SELECT, runs when read)
    SELECT (SELECT count(*) FROM finished), (SELECT a.n FROM archived a) INTO v_completed, v_archived;

    -- 3b. The texts a coalesced turn answered with its head (recorded by the claim,
    --     4010_conversation_turns): finished with it, out of the queue, no reply of
    --     their own. A statement of its own, run only when a head has them: its
    --     UPDATE would cost every completion an executor for the partitioned table.
    IF v_turns THEN
      WITH followers AS (
        SELECT f.id, f.queue_msg_id, u.took_ms, items->(u.ord - 1) AS item
        FROM unnest(v_ords, v_verdicts, v_took_ms) AS u(ord, verdict, took_ms)
        JOIN wapipe.processed_messages f ON f.id = ANY ((v_claimed[u.ord]).turn_followers)
        WHERE u.verdict = 'complete' AND f.processed_at IS NULL
          AND f.conversation_key = (v_claimed[u.ord]).conversation_key
      ), archived AS MATERIALIZED (
        SELECT wapipe._inbound_archive(ARRAY(SELECT f.queue_msg_id FROM followers f)) AS n
      ), followed AS (
        UPDATE wapipe.processed_messages m
           SET status = 'done', processed_at = now(), processing_ms = f.took_ms,
               handled_by = f.item->>'handled_by', next_attempt_at = NULL,
               claimed_by = complete_messages.worker_id
          FROM followers f
         WHERE m.id = f.id
        RETURNING 1
      )
      SELECT (SELECT a.n FROM archived a) INTO v_archived;
    END IF;

    -- 4. Memory entries (wapipe._append_memory, the append rule), per session in item
    --    order; contexts merged in item order, a later key winning as with successive ||.
    IF v_memory_ids IS NOT NULL THEN
      WITH accepted AS (
        SELECT u.ord, items->(u.ord - 1)->'memory' AS memory
        FROM unnest(v_ords, v_verdicts) AS u(ord, verdict)
        WHERE u.verdict = 'complete' AND items->(u.ord - 1)->'memory'->'append'->0 IS NOT NULL
      ), appended AS (
        SELECT (a.memory->>'memory_id')::bigint AS memory_id,
               jsonb_agg(x.entry ORDER BY a.ord, x.k) AS entries
        FROM accepted a
        CROSS JOIN LATERAL jsonb_array_elements(a.memory->'append') WITH ORDINALITY AS x(entry, k)
        GROUP BY 1
      ), contexts AS (
        SELECT (a.memory->>'memory_id')::bigint AS memory_id,
               jsonb_object_agg(c.key, c.value ORDER BY a.ord) AS context
        FROM accepted a
        CROSS JOIN LATERAL jsonb_each(a.memory->'context') AS c(key, value)
        WHERE jsonb_typeof(a.memory->'context') = 'object'
        GROUP BY 1
      )
      SELECT array_agg(p.memory_id), array_agg(p.entries), array_agg(x.context)
        INTO v_mem_ids, v_mem_entries, v_mem_contexts
      FROM appended p
      LEFT JOIN contexts x ON x.memory_id = p.memory_id;
      IF v_mem_ids IS NOT NULL THEN
        PERFORM wapipe._append_memory(v_mem_ids, v_mem_entries, v_mem_contexts);
      END IF;
    END IF;

    -- 5. Workflow actions, one by one in item order (wapipe._apply_workflow_action;
    --    an error here rolls everything back).
    IF v_workflows THEN
      PERFORM wapipe._apply_workflow_action(items->(u.ord - 1)->'workflow', m.from_wa_id, m.phone_number_id)
      FROM unnest(v_ords, v_verdicts, v_ids) AS u(ord, verdict, id)
      JOIN wapipe.processed_messages m ON m.id = u.id
      WHERE u.verdict = 'complete' AND jsonb_typeof(items->(u.ord - 1)->'workflow') = 'object'
      ORDER BY u.ord;
    END IF;

    -- 6. The conversations move on to their next message.
    PERFORM wapipe._release_conversation_leases(
      ARRAY(SELECT u.conv FROM unnest(v_convs, v_verdicts) AS u(conv, v) WHERE u.v = 'complete'));
  END IF;

  -- 7. One row per item; completed and repeated ones with their outbox ids.
  RETURN QUERY
  SELECT u.ord, v_msg_ids[u.ord],
         CASE WHEN u.verdict IN ('complete', 'repeat') THEN 'done' ELSE u.verdict END,
         CASE WHEN u.verdict IN ('complete', 'repeat') THEN u.id END,
         CASE WHEN u.verdict IN ('complete', 'repeat') THEN
           coalesce((SELECT array_agg(o.id ORDER BY o.seq) FROM wapipe.outbox o
                     WHERE o.source_key = u.wamid), '{}') END,
         CASE WHEN u.verdict IN ('complete', 'repeat') THEN
           (SELECT m.processing_ms FROM wapipe.processed_messages m WHERE m.id = u.id) END,
         CASE u.verdict WHEN 'claim_lost' THEN 'WA001'
                        WHEN 'rejected' THEN CASE WHEN u.error LIKE 'invalid input syntax%' THEN '22P02'
                                                  ELSE '22023' END END,
         CASE u.verdict WHEN 'claim_lost' THEN wapipe._claim_lost_message(complete_messages.worker_id,
                                                                          v_msg_ids[u.ord])
                        WHEN 'rejected' THEN u.error END
  FROM unnest(v_ords, v_verdicts, v_ids, v_wamids, v_errors) AS u(ord, verdict, id, wamid, error)
  ORDER BY u.ord;
END
$$;
COMMENT ON FUNCTION wapipe.complete_messages(text, jsonb) IS
  'complete_message for many items ([{"msg_id", "reply", "memory", "workflow", "handled_by"}]) of one worker in one transaction, each on its own: outcome done (message_id, outbox_ids, processing_ms; also for a repeat), claim_lost (WA001) or rejected (22023, error = complete_message''s message), a refused item leaving no trace. Conversations locked in key order, one statement per step, no subtransactions. A failing workflow action raises and rolls the whole call back. Raises 22023 for a malformed items array.';

REVOKE ALL ON FUNCTION wapipe.complete_messages(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.complete_messages(text, jsonb) TO wapipe_worker;

-- wapipe.complete_message: finish a claimed message in one transaction: archive, reply, memory, workflow.
-- Returns one row: the processed_messages.id, the outbox ids of the reply (seq order) and the processing time.
--
-- complete_messages of one item (every rule of a completion is there): its claim_lost
-- outcome is raised as WA001 (_raise_claim_lost: the message complete_messages
-- reports, with its DETAIL and HINT), a rejected one as its error_code and message.
-- Only the worker holding the claim may complete (so a worker whose lease was taken
-- over cannot answer twice). Completing again by the same worker returns the first
-- result unchanged. The reply (one Graph API message object or an array of them)
-- goes to wapipe.outbox keyed (wamid, seq), so it can never be queued twice, even
-- for a message replayed from the dead letters. The texts a coalesced turn answered
-- with this head (turn_followers) finish with it.
-- memory = {"memory_id": N, "append": [{"role", "content"}, ...], "context": {...}};
-- workflow = {"action": "start" | "advance" | "complete" | "fail", ...}.
CREATE OR REPLACE FUNCTION wapipe.complete_message(
  msg_id bigint, worker_id text, reply jsonb DEFAULT NULL, memory jsonb DEFAULT NULL,
  workflow jsonb DEFAULT NULL, handled_by text DEFAULT NULL)
RETURNS TABLE (message_id bigint, outbox_ids bigint[], processing_ms integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  -- (no planner settings: its one statement calls complete_messages, which sets them
  -- for its own; a SET clause costs a GUC save and restore per call)
AS $$
#variable_conflict use_column
DECLARE
  r record;
BEGIN
  SELECT c.outcome, c.message_id, c.outbox_ids, c.processing_ms, c.error_code, c.error INTO r
  FROM wapipe.complete_messages(
         complete_message.worker_id,
         jsonb_build_array(jsonb_build_object(
           'msg_id', complete_message.msg_id, 'reply', complete_message.reply,
           'memory', complete_message.memory, 'workflow', complete_message.workflow,
           'handled_by', complete_message.handled_by))) c;
  IF r.outcome = 'claim_lost' THEN
    PERFORM wapipe._raise_claim_lost(r.error);
  ELSIF r.outcome = 'rejected' THEN
    RAISE EXCEPTION USING MESSAGE = r.error, ERRCODE = r.error_code;
  END IF;
  -- (assignments and RETURN NEXT: no statement of its own to start)
  message_id := r.message_id;
  outbox_ids := r.outbox_ids;
  processing_ms := r.processing_ms;
  RETURN NEXT;
END
$$;
COMMENT ON FUNCTION wapipe.complete_message(bigint, text, jsonb, jsonb, jsonb, text) IS
  'Finish a message worker_id holds, atomically: archive from pgmq, status done with processing time, queue the reply in wapipe.outbox (once per (wamid, seq)), append conversation memory, apply a workflow action, free the conversation for its next message. Returns (message_id, outbox_ids, processing_ms); a repeat by the same worker returns the first result. Raises WA001 when worker_id does not hold the claim, 22023 for a malformed reply/memory/workflow.';
REVOKE ALL ON FUNCTION wapipe.complete_message(bigint, text, jsonb, jsonb, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.complete_message(bigint, text, jsonb, jsonb, jsonb, text) TO wapipe_worker;
