-- wapipe._release_conversation_leases: _release_conversation_lease for many conversations, in one UPDATE.
-- Returns how many conversations it updated.
--
-- The same rule as wapipe._release_conversation_lease (0210), set-based: lease
-- cleared, head recomputed (oldest unfinished message), backoff gate following the
-- new head, last_inbound_at moved by a finished old head. Callers hold the rows
-- (FOR UPDATE, taken in key order) before calling it.
CREATE OR REPLACE FUNCTION wapipe._release_conversation_leases(conversations text[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
DECLARE
  aging_seconds numeric := wapipe._setting_num('claim.priority_aging_seconds');
  n integer;
BEGIN
  UPDATE wapipe.conversations c
     SET locked_by = NULL, locked_until = NULL, locked_at = NULL,
         head_message_id   = h.id,
         head_priority     = h.priority,
         head_wa_timestamp = h.wa_timestamp,
         head_received_at  = h.received_at,
         -- wapipe._conversation_rank written out (one call of it per row costs more)
         head_rank         = CASE WHEN h.id IS NULL THEN NULL
                                  ELSE h.received_at
                                       - make_interval(secs => h.priority * aging_seconds) END,
         available_at      = coalesce(CASE WHEN h.status = 'queued' THEN h.next_attempt_at END, now()),
         last_inbound_at   = greatest(c.last_inbound_at,
                                      -- by primary key only: with the test in the WHERE clause
                                      -- a plan could walk processed_messages_finished_idx,
                                      -- every finished message, to find this one; the
                                      -- texts its turn answered finished with it
                                      (SELECT CASE WHEN f.processed_at IS NOT NULL
                                                   THEN greatest(f.wa_timestamp, (
                                                          SELECT max(t.wa_timestamp)
                                                          FROM wapipe.processed_messages t
                                                          WHERE t.id = ANY (f.turn_followers))) END
                                       FROM wapipe.processed_messages f
                                       WHERE f.id = c.head_message_id))
    FROM (SELECT k.conversation_key, n.id, n.priority, n.wa_timestamp, n.received_at, n.status,
                 n.next_attempt_at
          FROM (SELECT DISTINCT u.conversation_key FROM unnest(conversations) AS u(conversation_key)) k
          LEFT JOIN LATERAL (
            SELECT m.id, m.priority, m.wa_timestamp, m.received_at, m.status, m.next_attempt_at
            FROM wapipe.processed_messages m
            WHERE m.conversation_key = k.conversation_key AND m.processed_at IS NULL  -- unfinished
            ORDER BY m.wa_timestamp, m.id
            LIMIT 1) n ON true) h
   WHERE c.conversation_key = h.conversation_key;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION wapipe._release_conversation_leases(text[]) IS
  'Private: _release_conversation_lease for many conversations in one UPDATE (lease cleared, head, backoff gate and last_inbound_at recomputed); returns how many rows it updated.';
REVOKE ALL ON FUNCTION wapipe._release_conversation_leases(text[]) FROM PUBLIC;

-- wapipe._completion_refusal: why complete_message would refuse an item whose claim holds.
-- Returns the message it raises (22023; "invalid input syntax" for a memory_id that is no integer), or NULL.
--
-- complete_message's own checks in its order (reply, memory shape, workflow action),
-- then update_conversation_memory's for the entries in the order they are appended:
-- role and content of each, the context and the session with the first.
CREATE OR REPLACE FUNCTION wapipe._completion_refusal(item jsonb)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  reply    jsonb := nullif(item->'reply', 'null');
  memory   jsonb := nullif(item->'memory', 'null');
  workflow jsonb := nullif(item->'workflow', 'null');
  replies  jsonb := CASE jsonb_typeof(reply) WHEN 'array' THEN reply
                                             WHEN 'object' THEN jsonb_build_array(reply)
                                             ELSE '[]' END;
  entry    jsonb;
  n        integer := 0;
BEGIN
  IF reply IS NOT NULL AND jsonb_typeof(reply) NOT IN ('array', 'object') THEN
    RETURN 'reply must be a Graph API message object or an array of them';
  END IF;
  IF EXISTS (SELECT 1 FROM jsonb_array_elements(replies) r
             WHERE jsonb_typeof(r) <> 'object' OR coalesce(r->>'type', '') = '') THEN
    RETURN 'every reply must be an object with a "type", e.g. {"type":"text","text":{"body":"hi"}}';
  END IF;
  IF memory IS NOT NULL AND (
       jsonb_typeof(memory) <> 'object'
       OR jsonb_typeof(memory->'memory_id') IS DISTINCT FROM 'number'
       OR jsonb_typeof(coalesce(memory->'append', '[]')) <> 'array') THEN
    RETURN 'memory must be {"memory_id": N, "append": [{"role": .., "content": ..}], "context": {..}}';
  END IF;
  IF workflow IS NOT NULL AND coalesce(workflow->>'action', '') NOT IN ('start', 'advance', 'complete', 'fail') THEN
    RETURN format('workflow.action must be start, advance, complete or fail, got %s',
                  coalesce(workflow->>'action', 'nothing'));
  END IF;
  IF jsonb_typeof(memory) <> 'object' OR coalesce(jsonb_array_length(memory->'append'), 0) = 0 THEN
    RETURN NULL;
  END IF;
  IF memory->>'memory_id' !~ '^-?[0-9]{1,18}$' THEN
    RETURN format('invalid input syntax for type bigint: "%s"', memory->>'memory_id');
  END IF;
  FOR entry IN SELECT a.e FROM jsonb_array_elements(memory->'append') WITH ORDINALITY AS a(e, k) ORDER BY a.k LOOP
    n := n + 1;
    IF coalesce(entry->>'role', '') NOT IN ('user', 'assistant', 'system', 'tool') THEN
      RETURN format('update_conversation_memory: role must be user, assistant, system or tool, got %s',
                    coalesce(quote_literal(left(entry->>'role', 40)), 'NULL'));
    END IF;
    IF entry->>'content' IS NULL THEN
      RETURN 'update_conversation_memory: content must not be NULL';
    END IF;
    IF n = 1 AND memory->'context' IS NOT NULL AND jsonb_typeof(memory->'context') <> 'object' THEN
      RETURN format('update_conversation_memory: context must be a JSON object, got %s',
                    jsonb_typeof(memory->'context'));
    END IF;
    IF n = 1 AND NOT EXISTS (SELECT 1 FROM wapipe.ai_conversation_memory am
                             WHERE am.id = (memory->>'memory_id')::bigint) THEN
      RETURN format('update_conversation_memory: no conversation memory with id %s', memory->>'memory_id');
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION wapipe._completion_refusal(jsonb) IS
  'Private: the 22023 message complete_message would raise for an item (reply, memory, workflow, memory entries) once its claim holds, or NULL.';
REVOKE ALL ON FUNCTION wapipe._completion_refusal(jsonb) FROM PUBLIC;

-- wapipe._apply_workflow_action: a completion's workflow action, as complete_message applies it.
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
  'Private: apply a completion''s workflow action (start for the sender on the receiving number, advance, complete, fail) as complete_message does.';
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
-- order; every item is checked after those locks, and one statement writes all accepted items (archive, status, outbox,
-- memory). Workflow actions (rare: interactive flows) run one by one after it; one
-- that fails (step moved, one already active, ...) raises and the whole call rolls
-- back, so the caller completes the items one by one with complete_message instead.
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
  window_messages integer := wapipe._setting_num('memory.window_messages')::integer;
  v_count       integer;
  v_bad_ids     boolean;
  v_repeated    boolean;    -- some msg_id occurs twice
  v_workflows   boolean;    -- some item has a workflow action
  v_memory_ids  bigint[];   -- sessions the items append to, locked and found
  v_completed   integer;
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
  IF window_messages IS NULL OR window_messages < 1 THEN
    RAISE EXCEPTION 'setting memory.window_messages must be at least 1' USING ERRCODE = '22023';
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

  -- 2. Each item's verdict, in complete_message's order of checks: repeat, claim (as
  --    read under the conversation locks), then whether reply, memory (its entries checked
  --    as update_conversation_memory checks them) and workflow are acceptable.
  SELECT array_agg(x.ord), array_agg(x.verdict), array_agg(x.id), array_agg(x.wamid),
         array_agg(x.conversation_key), array_agg(x.queue_msg_id),
         array_agg(greatest(0, round(extract(epoch FROM now() - x.claimed_at) * 1000))::integer)
    INTO v_ords, v_verdicts, v_ids, v_wamids, v_convs, v_queue_ids, v_took_ms
  FROM (
    SELECT e.n::integer AS ord, m.id, m.wamid, m.conversation_key, m.queue_msg_id, m.claimed_at,
      CASE
        WHEN m.status = 'done' AND m.claimed_by = complete_messages.worker_id THEN 'repeat'
        WHEN NOT v_held[e.n] THEN 'claim_lost'
        WHEN (i.reply IS NULL OR jsonb_typeof(i.reply) IN ('array', 'object'))
             AND NOT jsonb_path_exists(i.replies,
                   '$[*] ? (@.type() != "object" || !(exists(@.type)) || @.type == null || @.type == "")')
             AND (i.memory IS NULL
                  OR (jsonb_typeof(i.memory) = 'object'
                      AND jsonb_typeof(i.memory->'memory_id') = 'number'
                      AND jsonb_typeof(coalesce(i.memory->'append', '[]')) = 'array'))
             AND (i.workflow IS NULL
                  OR coalesce(i.workflow->>'action', '') IN ('start', 'advance', 'complete', 'fail'))
             AND (jsonb_array_length(i.appended) = 0
                  OR ((i.memory->'context' IS NULL OR jsonb_typeof(i.memory->'context') = 'object')
                      AND CASE WHEN i.memory->>'memory_id' ~ '^-?[0-9]{1,18}$'
                               THEN (i.memory->>'memory_id')::bigint = ANY (v_memory_ids)
                               ELSE false END
                      AND NOT jsonb_path_exists(i.appended,
                            '$[*] ? (@.type() != "object" || !(exists(@.role)) || @.role.type() != "string"
                                     || !(@.role == "user" || @.role == "assistant" || @.role == "system"
                                          || @.role == "tool")
                                     || !(exists(@.content)) || @.content == null)'))) THEN 'complete'
        ELSE 'rejected' END AS verdict
    FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, n)
    CROSS JOIN LATERAL (
      SELECT r.reply, mm.memory, w.workflow,
             CASE jsonb_typeof(r.reply) WHEN 'array' THEN r.reply
                                        WHEN 'object' THEN jsonb_build_array(r.reply)
                                        ELSE '[]' END AS replies,
             CASE WHEN jsonb_typeof(mm.memory) = 'object' AND jsonb_typeof(mm.memory->'append') = 'array'
                  THEN mm.memory->'append' ELSE '[]' END AS appended
      FROM (SELECT nullif(e.item->'reply', 'null') AS reply) r,
           (SELECT nullif(e.item->'memory', 'null') AS memory) mm,
           (SELECT nullif(e.item->'workflow', 'null') AS workflow) w) i
    CROSS JOIN LATERAL (SELECT (v_claimed[e.n]).*) m) x;

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
  IF 'rejected' = ANY (v_verdicts) THEN
    v_errors := ARRAY(
      SELECT CASE WHEN u.verdict = 'rejected' THEN wapipe._completion_refusal(items->(u.ord - 1)) END
      FROM unnest(v_ords, v_verdicts) WITH ORDINALITY AS u(ord, verdict, i)
      ORDER BY u.i);
  END IF;

  IF 'complete' = ANY (v_verdicts) THEN
    -- 3. Every accepted item in one statement: out of the queue into pgmq's archive
    --    (pgmq.archive's own DELETE ... INSERT, written out: a static statement keeps
    --    its plan; pgmq.archive builds it with EXECUTE on every call), done, its
    --    replies queued once per (wamid, seq) in item order, and its memory entries
    --    appended in item order (update_conversation_memory's window, count, context
    --    and activity; contexts merged in item order, a later key winning as with ||).
    WITH accepted AS (
      SELECT u.ord, u.id, u.wamid, u.queue_msg_id, u.took_ms, m.phone_number_id, m.from_wa_id,
             m.correlation_id, m.conversation_key, m.turn_followers, items->(u.ord - 1) AS item
      FROM unnest(v_ords, v_verdicts, v_ids, v_wamids, v_queue_ids, v_took_ms)
             AS u(ord, verdict, id, wamid, queue_msg_id, took_ms)
      JOIN wapipe.processed_messages m ON m.id = u.id
      WHERE u.verdict = 'complete'
    ), followers AS (
      -- the texts a coalesced turn answered with its head (recorded by the claim,
      -- 1045_conversation_turns): finished with it, no reply of their own
      SELECT f.id, f.queue_msg_id, a.took_ms, a.item
      FROM accepted a
      JOIN wapipe.processed_messages f ON f.id = ANY (a.turn_followers)
      WHERE a.turn_followers IS NOT NULL AND f.processed_at IS NULL
        AND f.conversation_key = a.conversation_key
    ), archived AS (
      DELETE FROM pgmq.q_wapipe_inbound q
      WHERE q.msg_id = ANY (ARRAY(SELECT a.queue_msg_id FROM accepted a
                                  UNION ALL
                                  SELECT f.queue_msg_id FROM followers f))
      RETURNING q.msg_id, q.vt, q.read_ct, q.enqueued_at, q.last_read_at, q.message, q.headers
    ), kept AS (
      INSERT INTO pgmq.a_wapipe_inbound (msg_id, vt, read_ct, enqueued_at, last_read_at, message, headers)
      SELECT r.msg_id, r.vt, r.read_ct, r.enqueued_at, r.last_read_at, r.message, r.headers
      FROM archived r
      RETURNING 1
    ), finished AS (
      UPDATE wapipe.processed_messages m
         SET status = 'done', processed_at = now(), processing_ms = a.took_ms,
             handled_by = a.item->>'handled_by', next_attempt_at = NULL
        FROM accepted a
       WHERE m.id = a.id
      RETURNING 1
    ), followed AS (
      UPDATE wapipe.processed_messages m
         SET status = 'done', processed_at = now(), processing_ms = f.took_ms,
             handled_by = f.item->>'handled_by', next_attempt_at = NULL,
             claimed_by = complete_messages.worker_id
        FROM followers f
       WHERE m.id = f.id
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
    ), appended AS (
      SELECT (a.item->'memory'->>'memory_id')::bigint AS memory_id,
             jsonb_agg(jsonb_build_object('role', x.entry->>'role', 'content', x.entry->>'content',
                                          'at', clock_timestamp())
                       ORDER BY a.ord, x.k) AS entries,
             count(*)::integer AS added
      FROM accepted a
      CROSS JOIN LATERAL jsonb_array_elements(a.item->'memory'->'append') WITH ORDINALITY AS x(entry, k)
      WHERE jsonb_typeof(a.item->'memory'->'append') = 'array'
      GROUP BY 1
    ), contexts AS (
      -- merged in item order: a later key wins, as with successive ||
      SELECT (a.item->'memory'->>'memory_id')::bigint AS memory_id,
             jsonb_object_agg(c.key, c.value ORDER BY a.ord) AS context
      FROM accepted a
      CROSS JOIN LATERAL jsonb_each(a.item->'memory'->'context') AS c(key, value)
      WHERE jsonb_typeof(a.item->'memory'->'context') = 'object'
        AND jsonb_array_length(a.item->'memory'->'append') > 0
      GROUP BY 1
    ), remembered AS (
      UPDATE wapipe.ai_conversation_memory am
         SET messages = CASE
               WHEN jsonb_array_length(am.messages) + p.added <= window_messages
                 THEN am.messages || p.entries
               ELSE (SELECT coalesce(jsonb_agg(w.msg ORDER BY w.n), '[]')
                     FROM jsonb_array_elements(am.messages || p.entries) WITH ORDINALITY AS w(msg, n)
                     WHERE w.n > jsonb_array_length(am.messages) + p.added - window_messages) END,
             message_count = am.message_count + p.added,
             context = am.context || coalesce(x.context, '{}'),
             last_activity_at = now()
        FROM appended p
        LEFT JOIN contexts x ON x.memory_id = p.memory_id
       WHERE am.id = p.memory_id
      RETURNING 1
    )
    SELECT count(*) INTO v_completed FROM finished;  -- (every data-modifying CTE runs to completion)

    -- 4. Workflow actions, one by one in item order (resolved at run time, as in
    --    complete_message; an error here rolls everything back).
    IF v_workflows THEN
      PERFORM wapipe._apply_workflow_action(items->(u.ord - 1)->'workflow', m.from_wa_id, m.phone_number_id)
      FROM unnest(v_ords, v_verdicts, v_ids) AS u(ord, verdict, id)
      JOIN wapipe.processed_messages m ON m.id = u.id
      WHERE u.verdict = 'complete' AND jsonb_typeof(items->(u.ord - 1)->'workflow') = 'object'
      ORDER BY u.ord;
    END IF;

    -- 5. The conversations move on to their next message.
    PERFORM wapipe._release_conversation_leases(
      ARRAY(SELECT u.conv FROM unnest(v_convs, v_verdicts) AS u(conv, v) WHERE u.v = 'complete'));
  END IF;

  -- 6. One row per item; completed and repeated ones with their outbox ids.
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
         CASE u.verdict WHEN 'claim_lost' THEN format('worker %s does not hold the claim on message %s',
                                                      complete_messages.worker_id, v_msg_ids[u.ord])
                        WHEN 'rejected' THEN u.error END
  FROM unnest(v_ords, v_verdicts, v_ids, v_wamids, v_errors) AS u(ord, verdict, id, wamid, error)
  ORDER BY u.ord;
END
$$;
COMMENT ON FUNCTION wapipe.complete_messages(text, jsonb) IS
  'complete_message for many items ([{"msg_id", "reply", "memory", "workflow", "handled_by"}]) of one worker in one transaction, each on its own: outcome done (message_id, outbox_ids, processing_ms; also for a repeat), claim_lost (WA001) or rejected (22023, error = complete_message''s message), a refused item leaving no trace. Conversations locked in key order, one statement per step, no subtransactions. A failing workflow action raises and rolls the whole call back. Raises 22023 for a malformed items array.';

REVOKE ALL ON FUNCTION wapipe.complete_messages(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.complete_messages(text, jsonb) TO wapipe_worker;
