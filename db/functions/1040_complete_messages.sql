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
                                      (SELECT f.wa_timestamp FROM wapipe.processed_messages f
                                       WHERE f.id = c.head_message_id AND f.processed_at IS NOT NULL))
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

-- wapipe.complete_messages: complete_message for many messages one worker holds, in one transaction, each on its own.
-- Returns one row per item (ord = its position, from 1): outcome 'done' with the message id, outbox ids and processing time, 'claim_lost' or 'rejected' with the SQLSTATE and message complete_message would have raised.
--
-- items = [{"msg_id": N, "reply": .., "memory": .., "workflow": .., "handled_by": ..}, ...]:
-- each item means what complete_message(msg_id, worker_id, reply, memory, workflow,
-- handled_by) means. An item complete_message would refuse is refused alone and
-- leaves no trace, while the others complete: claim_lost (55000: not held, or the
-- lease was taken over) or rejected (22023: malformed reply, memory or workflow, a
-- bad memory entry, an unknown memory_id). An item for a message this worker already
-- completed gets the first result back; so does a later item with the same msg_id.
--
-- Set-based, without subtransactions: the conversations of all items are locked up
-- front in key order (the order ingest locks them in), then their memory sessions in
-- id order; every claim and every item is checked on the snapshot taken after those
-- locks, and one statement writes all accepted items (archive, status, outbox,
-- memory). Workflow actions (rare: interactive flows) run one by one after it; one
-- that fails (step moved, one already active, ...) raises and the whole call rolls
-- back, so the caller completes the items one by one with complete_message instead.
-- Plans: generic, and never a sequential scan (every access is by key; a plan made
-- while a table was still small must not keep scanning it as it grows).
CREATE OR REPLACE FUNCTION wapipe.complete_messages(worker_id text, items jsonb)
RETURNS TABLE (ord integer, msg_id bigint, outcome text, message_id bigint, outbox_ids bigint[],
               processing_ms integer, error_code text, error text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
AS $$
#variable_conflict use_column
DECLARE
  window_messages integer := wapipe._setting_num('memory.window_messages')::integer;
  v_given_ids   numeric[];
  v_memory_ids  bigint[];   -- sessions the items append to, locked and found
  -- one entry per item, in item order
  v_ords        integer[];
  v_msg_ids     bigint[];
  v_verdicts    text[];     -- complete | repeat | claim_lost | rejected
  v_codes       text[];
  v_errors      text[];
  v_ids         bigint[];
  v_wamids      text[];
  v_convs       text[];
  v_replies     jsonb[];
  v_memories    jsonb[];
  v_workflows   jsonb[];
  v_handled_by  text[];
  v_took_ms     integer[];
  v_phone_ids   text[];
  v_from        text[];
  v_queue_ids   bigint[];
  v_correlation text[];
  v_completed   integer;
BEGIN
  IF jsonb_typeof(items) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'items must be a JSON array of {"msg_id", "reply", "memory", "workflow", "handled_by"}'
      USING ERRCODE = '22023';
  END IF;
  IF jsonb_array_length(items) = 0 THEN
    RETURN;
  END IF;
  IF window_messages IS NULL OR window_messages < 1 THEN
    RAISE EXCEPTION 'setting memory.window_messages must be at least 1' USING ERRCODE = '22023';
  END IF;
  SELECT array_agg(e.ord::integer ORDER BY e.ord),
         array_agg(CASE WHEN jsonb_typeof(e.item->'msg_id') = 'number'
                        THEN (e.item->>'msg_id')::numeric END ORDER BY e.ord),
         array_agg(DISTINCT (e.item->'memory'->>'memory_id')::bigint)
           FILTER (WHERE jsonb_typeof(e.item->'memory'->'memory_id') = 'number'
                     AND e.item->'memory'->>'memory_id' ~ '^-?[0-9]{1,18}$'
                     AND jsonb_typeof(e.item->'memory'->'append') = 'array'
                     AND jsonb_array_length(e.item->'memory'->'append') > 0)
    INTO v_ords, v_given_ids, v_memory_ids
  FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, ord);
  IF EXISTS (SELECT 1 FROM unnest(v_given_ids) g WHERE g IS NULL OR g <> trunc(g)) THEN
    RAISE EXCEPTION 'every item needs an integer msg_id' USING ERRCODE = '22023';
  END IF;
  v_msg_ids := v_given_ids::bigint[];

  -- 1. The conversations of every item, locked in key order; then the memory sessions
  --    the items append to, in id order (every completion locks in this order).
  PERFORM 1
  FROM wapipe.conversations c
  WHERE c.conversation_key IN (SELECT m.conversation_key FROM wapipe.processed_messages m
                               WHERE m.queue_msg_id = ANY (v_msg_ids))
  ORDER BY c.conversation_key
  FOR UPDATE OF c;
  IF v_memory_ids IS NOT NULL THEN
    v_memory_ids := ARRAY(SELECT am.id FROM wapipe.ai_conversation_memory am
                          WHERE am.id = ANY (v_memory_ids)
                          ORDER BY am.id
                          FOR UPDATE);
  END IF;

  -- 2. Each item's verdict, on a snapshot taken after the locks, in complete_message's
  --    order of checks: repeat, claim, reply, memory, workflow, memory entries. The
  --    message of a refusal is only worked out for an item that fails a check.
  WITH given AS (
    SELECT e.n::integer AS ord, v_msg_ids[e.n] AS msg_id,
           CASE WHEN jsonb_typeof(e.item->'reply') = 'null' THEN NULL ELSE e.item->'reply' END AS reply,
           CASE WHEN jsonb_typeof(e.item->'memory') = 'null' THEN NULL ELSE e.item->'memory' END AS memory,
           CASE WHEN jsonb_typeof(e.item->'workflow') = 'null' THEN NULL ELSE e.item->'workflow' END AS workflow,
           e.item->>'handled_by' AS handled_by
    FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, n)
  ), state AS MATERIALIZED (
    SELECT g.*, m.id, m.wamid, m.conversation_key, m.phone_number_id, m.from_wa_id,
           m.queue_msg_id, m.claimed_at, m.correlation_id,
           CASE jsonb_typeof(g.reply) WHEN 'array' THEN g.reply
                                      WHEN 'object' THEN jsonb_build_array(g.reply)
                                      ELSE '[]' END AS replies,
           CASE WHEN jsonb_typeof(g.memory) = 'object' AND jsonb_typeof(g.memory->'append') = 'array'
                THEN g.memory->'append' ELSE '[]' END AS appended,
           m.status = 'done' AND m.claimed_by = complete_messages.worker_id AS repeat,
           m.id IS NULL OR m.status <> 'processing'
             OR m.claimed_by IS DISTINCT FROM complete_messages.worker_id
             OR c.locked_by IS DISTINCT FROM complete_messages.worker_id
             OR c.head_message_id IS DISTINCT FROM m.id AS lost
    FROM given g
    LEFT JOIN wapipe.processed_messages m ON m.queue_msg_id = g.msg_id
    LEFT JOIN wapipe.conversations c ON c.conversation_key = m.conversation_key
  ), checked AS MATERIALIZED (
    SELECT s.*,
           (s.reply IS NULL OR jsonb_typeof(s.reply) IN ('array', 'object'))
           AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(s.replies) r
                           WHERE jsonb_typeof(r) <> 'object' OR coalesce(r->>'type', '') = '')
           AND (s.memory IS NULL
                OR (jsonb_typeof(s.memory) = 'object'
                    AND jsonb_typeof(s.memory->'memory_id') = 'number'
                    AND jsonb_typeof(coalesce(s.memory->'append', '[]')) = 'array'))
           AND (s.workflow IS NULL
                OR coalesce(s.workflow->>'action', '') IN ('start', 'advance', 'complete', 'fail'))
           AND (jsonb_array_length(s.appended) = 0
                OR ((s.memory->'context' IS NULL OR jsonb_typeof(s.memory->'context') = 'object')
                    AND s.memory->>'memory_id' ~ '^-?[0-9]{1,18}$'
                    AND (s.memory->>'memory_id')::bigint = ANY (v_memory_ids)
                    AND NOT EXISTS (
                      SELECT 1 FROM jsonb_array_elements(s.appended) a
                      WHERE coalesce(a->>'role', '') NOT IN ('user', 'assistant', 'system', 'tool')
                         OR a->>'content' IS NULL))) AS acceptable
    FROM state s
  ), judged AS MATERIALIZED (
    SELECT ch.*,
      CASE WHEN ch.repeat THEN 'repeat' WHEN ch.lost THEN 'claim_lost'
           WHEN ch.acceptable THEN 'complete' ELSE 'rejected' END AS verdict,
      CASE WHEN ch.repeat OR ch.lost OR ch.acceptable THEN NULL
        WHEN ch.reply IS NOT NULL AND jsonb_typeof(ch.reply) NOT IN ('array', 'object') THEN
          'reply must be a Graph API message object or an array of them'
        WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(ch.replies) r
                     WHERE jsonb_typeof(r) <> 'object' OR coalesce(r->>'type', '') = '') THEN
          'every reply must be an object with a "type", e.g. {"type":"text","text":{"body":"hi"}}'
        WHEN ch.memory IS NOT NULL AND (
               jsonb_typeof(ch.memory) <> 'object'
               OR jsonb_typeof(ch.memory->'memory_id') IS DISTINCT FROM 'number'
               OR jsonb_typeof(coalesce(ch.memory->'append', '[]')) <> 'array') THEN
          'memory must be {"memory_id": N, "append": [{"role": .., "content": ..}], "context": {..}}'
        WHEN ch.workflow IS NOT NULL
             AND coalesce(ch.workflow->>'action', '') NOT IN ('start', 'advance', 'complete', 'fail') THEN
          format('workflow.action must be start, advance, complete or fail, got %s',
                 coalesce(ch.workflow->>'action', 'nothing'))
        WHEN ch.memory->>'memory_id' !~ '^-?[0-9]{1,18}$' THEN
          format('invalid input syntax for type bigint: "%s"', ch.memory->>'memory_id')
        ELSE (
          -- update_conversation_memory's checks, in the order the entries are appended:
          -- role and content of each entry; the context and the session with the first
          SELECT x.msg FROM (
            SELECT a.n, 1 AS k,
                   CASE WHEN coalesce(a.entry->>'role', '') NOT IN ('user', 'assistant', 'system', 'tool') THEN
                          format('update_conversation_memory: role must be user, assistant, system or tool, got %s',
                                 coalesce(quote_literal(left(a.entry->>'role', 40)), 'NULL'))
                        WHEN a.entry->>'content' IS NULL THEN
                          'update_conversation_memory: content must not be NULL' END AS msg
            FROM jsonb_array_elements(ch.appended) WITH ORDINALITY AS a(entry, n)
            UNION ALL
            SELECT 1, 2,
                   CASE WHEN ch.memory->'context' IS NOT NULL
                             AND jsonb_typeof(ch.memory->'context') <> 'object' THEN
                          format('update_conversation_memory: context must be a JSON object, got %s',
                                 jsonb_typeof(ch.memory->'context'))
                        ELSE format('update_conversation_memory: no conversation memory with id %s',
                                    ch.memory->>'memory_id') END) x
          WHERE x.msg IS NOT NULL
          ORDER BY x.n, x.k
          LIMIT 1)
      END AS rejection
    FROM checked ch
  )
  SELECT array_agg(j.ord ORDER BY j.ord), array_agg(j.msg_id ORDER BY j.ord),
         -- of several acceptable items for one message, the first completes it
         array_agg(CASE WHEN j.verdict = 'complete'
                         AND EXISTS (SELECT 1 FROM judged o
                                     WHERE o.msg_id = j.msg_id AND o.verdict = 'complete' AND o.ord < j.ord)
                        THEN 'repeat' ELSE j.verdict END ORDER BY j.ord),
         array_agg(CASE WHEN j.verdict = 'claim_lost' THEN '55000'
                        WHEN j.verdict = 'rejected' THEN
                          CASE WHEN j.rejection LIKE 'invalid input syntax%' THEN '22P02' ELSE '22023' END
                   END ORDER BY j.ord),
         array_agg(CASE WHEN j.verdict = 'claim_lost' THEN
                          format('worker %s does not hold the claim on message %s',
                                 complete_messages.worker_id, j.msg_id)
                        ELSE j.rejection END ORDER BY j.ord),
         array_agg(j.id ORDER BY j.ord), array_agg(j.wamid ORDER BY j.ord),
         array_agg(j.conversation_key ORDER BY j.ord), array_agg(j.replies ORDER BY j.ord),
         array_agg(CASE WHEN jsonb_array_length(j.appended) > 0 THEN j.memory END ORDER BY j.ord),
         array_agg(j.workflow ORDER BY j.ord), array_agg(j.handled_by ORDER BY j.ord),
         array_agg(greatest(0, round(extract(epoch FROM now() - j.claimed_at) * 1000))::integer
                   ORDER BY j.ord),
         array_agg(j.phone_number_id ORDER BY j.ord), array_agg(j.from_wa_id ORDER BY j.ord),
         array_agg(j.queue_msg_id ORDER BY j.ord), array_agg(j.correlation_id ORDER BY j.ord)
    INTO v_ords, v_msg_ids, v_verdicts, v_codes, v_errors, v_ids, v_wamids, v_convs, v_replies,
         v_memories, v_workflows, v_handled_by, v_took_ms, v_phone_ids, v_from, v_queue_ids,
         v_correlation
  FROM judged j;

  IF 'complete' = ANY (v_verdicts) THEN
    -- 3. Every accepted item in one statement: out of the queue into pgmq's archive
    --    (pgmq.archive's own DELETE ... INSERT, written out: a static statement keeps
    --    its plan; pgmq.archive builds it with EXECUTE on every call), done, its
    --    replies queued once per (wamid, seq) in item order, and its memory entries
    --    appended in item order (update_conversation_memory's window, count, context
    --    and activity; contexts merged in item order, a later key winning as with ||).
    WITH accepted AS (
      SELECT u.*
      FROM unnest(v_verdicts, v_ids, v_wamids, v_queue_ids, v_took_ms, v_handled_by, v_phone_ids,
                  v_from, v_correlation, v_replies, v_memories)
             WITH ORDINALITY AS u(verdict, id, wamid, queue_msg_id, took_ms, handled_by,
                                  phone_number_id, from_wa_id, correlation_id, replies, memory, n)
      WHERE u.verdict = 'complete'
    ), archived AS (
      DELETE FROM pgmq.q_wapipe_inbound q
      WHERE q.msg_id = ANY (ARRAY(SELECT a.queue_msg_id FROM accepted a))
      RETURNING q.msg_id, q.vt, q.read_ct, q.enqueued_at, q.last_read_at, q.message, q.headers
    ), kept AS (
      INSERT INTO pgmq.a_wapipe_inbound (msg_id, vt, read_ct, enqueued_at, last_read_at, message, headers)
      SELECT r.msg_id, r.vt, r.read_ct, r.enqueued_at, r.last_read_at, r.message, r.headers
      FROM archived r
      RETURNING 1
    ), finished AS (
      UPDATE wapipe.processed_messages m
         SET status = 'done', processed_at = now(), processing_ms = a.took_ms,
             handled_by = a.handled_by, next_attempt_at = NULL
        FROM accepted a
       WHERE m.id = a.id
      RETURNING 1
    ), replied AS (
      INSERT INTO wapipe.outbox (source_key, seq, source_message_id, phone_number_id, to_wa_id, body,
                                 correlation_id)
      SELECT a.wamid, (r.seq - 1)::smallint, a.id, a.phone_number_id, a.from_wa_id, r.body,
             a.correlation_id
      FROM accepted a
      CROSS JOIN LATERAL jsonb_array_elements(a.replies) WITH ORDINALITY AS r(body, seq)
      ORDER BY a.n, r.seq
      ON CONFLICT (source_key, seq) DO NOTHING
      RETURNING 1
    ), appended AS (
      SELECT (a.memory->>'memory_id')::bigint AS memory_id,
             jsonb_agg(jsonb_build_object('role', x.entry->>'role', 'content', x.entry->>'content',
                                          'at', clock_timestamp())
                       ORDER BY a.n, x.k) AS entries,
             count(*)::integer AS added
      FROM accepted a
      CROSS JOIN LATERAL jsonb_array_elements(a.memory->'append') WITH ORDINALITY AS x(entry, k)
      WHERE a.memory IS NOT NULL
      GROUP BY 1
    ), contexts AS (
      SELECT (a.memory->>'memory_id')::bigint AS memory_id,
             jsonb_object_agg(c.key, c.value ORDER BY a.n) AS context
      FROM accepted a
      CROSS JOIN LATERAL jsonb_each(a.memory->'context') AS c(key, value)
      WHERE a.memory IS NOT NULL AND jsonb_typeof(a.memory->'context') = 'object'
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
    FOR i IN 1 .. array_length(v_ords, 1) LOOP
      CONTINUE WHEN v_verdicts[i] <> 'complete' OR v_workflows[i] IS NULL;
      CASE v_workflows[i]->>'action'
        WHEN 'start' THEN
          PERFORM wapipe.start_workflow(
            coalesce(v_workflows[i]->>'user_phone', v_from[i]), v_workflows[i]->>'workflow_type',
            v_workflows[i]->>'first_step', coalesce(v_workflows[i]->'data', '{}'),
            coalesce((v_workflows[i]->>'timeout')::interval,
                     make_interval(secs => wapipe._setting_num('workflow.default_timeout_seconds')::double precision)),
            coalesce(v_workflows[i]->>'phone_number_id', v_phone_ids[i]));
        WHEN 'advance' THEN
          PERFORM wapipe.advance_workflow(
            (v_workflows[i]->>'id')::bigint, v_workflows[i]->>'expected_step',
            v_workflows[i]->>'next_step', coalesce(v_workflows[i]->'data', '{}'));
        WHEN 'complete' THEN
          PERFORM wapipe.complete_workflow((v_workflows[i]->>'id')::bigint, v_workflows[i]->'data');
        WHEN 'fail' THEN
          PERFORM wapipe.fail_workflow((v_workflows[i]->>'id')::bigint, v_workflows[i]->>'error');
      END CASE;
    END LOOP;

    -- 5. The conversations move on to their next message.
    PERFORM wapipe._release_conversation_leases(
      ARRAY(SELECT u.conv FROM unnest(v_convs, v_verdicts) AS u(conv, v) WHERE u.v = 'complete'));
  END IF;

  -- 6. One row per item; completed and repeated ones with their outbox ids.
  RETURN QUERY
  SELECT u.ord, u.msg_id,
         CASE WHEN u.verdict IN ('complete', 'repeat') THEN 'done' ELSE u.verdict END,
         CASE WHEN u.verdict IN ('complete', 'repeat') THEN u.id END,
         CASE WHEN u.verdict IN ('complete', 'repeat') THEN
           coalesce((SELECT array_agg(o.id ORDER BY o.seq) FROM wapipe.outbox o
                     WHERE o.source_key = u.wamid), '{}') END,
         CASE WHEN u.verdict IN ('complete', 'repeat') THEN
           (SELECT m.processing_ms FROM wapipe.processed_messages m WHERE m.id = u.id) END,
         u.code, u.error
  FROM unnest(v_ords, v_msg_ids, v_verdicts, v_ids, v_wamids, v_codes, v_errors)
         AS u(ord, msg_id, verdict, id, wamid, code, error)
  ORDER BY u.ord;
END
$$;
COMMENT ON FUNCTION wapipe.complete_messages(text, jsonb) IS
  'complete_message for many items ([{"msg_id", "reply", "memory", "workflow", "handled_by"}]) of one worker in one transaction, each on its own: outcome done (message_id, outbox_ids, processing_ms; also for a repeat), claim_lost (55000) or rejected (22023, error = complete_message''s message), a refused item leaving no trace. Conversations locked in key order, one statement per step, no subtransactions. A failing workflow action raises and rolls the whole call back. Raises 22023 for a malformed items array.';

REVOKE ALL ON FUNCTION wapipe.complete_messages(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.complete_messages(text, jsonb) TO wapipe_worker;
