-- wapipe.complete_message: finish a claimed message in one transaction: archive, reply, memory, workflow.
-- Returns one row: the processed_messages.id, the outbox ids of the reply (seq order) and the processing time.
--
-- Only the worker holding the claim may complete (WA001 otherwise, so a worker
-- whose lease was taken over cannot answer twice). Completing again by the same
-- worker returns the first result unchanged. The reply (one Graph API message
-- object or an array of them) goes to wapipe.outbox keyed (wamid, seq), so it can
-- never be queued twice, even for a message replayed from the dead letters. The
-- texts a coalesced turn answered with this head (turn_followers) finish with it.
-- memory = {"memory_id": N, "append": [{"role", "content"}, ...], "context": {...}}
-- calls update_conversation_memory per entry; workflow = {"action": "start" |
-- "advance" | "complete" | "fail", ...} calls the matching workflow function.
CREATE OR REPLACE FUNCTION wapipe.complete_message(
  msg_id bigint, worker_id text, reply jsonb DEFAULT NULL, memory jsonb DEFAULT NULL,
  workflow jsonb DEFAULT NULL, handled_by text DEFAULT NULL)
RETURNS TABLE (message_id bigint, outbox_ids bigint[], processing_ms integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  -- like complete_messages: one generic plan per session, key probes only
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
#variable_conflict use_column
DECLARE
  claim    record;
  msg      wapipe.processed_messages;
  replies  jsonb;
  entry    jsonb;
  took_ms  integer;
  followed bigint[];  -- queue ids of the texts its turn answered
BEGIN
  -- the claim rule (wapipe._claims_held, 0015): conversation locked, message read again
  SELECT h.msg, h.held INTO claim
  FROM wapipe._claims_held(ARRAY[complete_message.msg_id], complete_message.worker_id) h;
  msg := claim.msg;

  -- a retried complete (e.g. the COMMIT's answer was lost) gets the first result back
  IF msg.status = 'done' AND msg.claimed_by = complete_message.worker_id THEN
    RETURN QUERY
      SELECT msg.id,
             coalesce((SELECT array_agg(o.id ORDER BY o.seq) FROM wapipe.outbox o
                       WHERE o.source_key = msg.wamid), '{}'),
             msg.processing_ms;
    RETURN;
  END IF;
  IF NOT claim.held THEN
    PERFORM wapipe._claim_held(complete_message.msg_id, complete_message.worker_id);  -- raises
  END IF;

  -- validate everything before any side effect
  replies := CASE jsonb_typeof(reply)
               WHEN 'array' THEN reply WHEN 'object' THEN jsonb_build_array(reply)
               ELSE '[]' END;
  IF reply IS NOT NULL AND jsonb_typeof(reply) NOT IN ('array', 'object', 'null') THEN
    RAISE EXCEPTION 'reply must be a Graph API message object or an array of them' USING ERRCODE = '22023';
  END IF;
  IF EXISTS (SELECT 1 FROM jsonb_array_elements(replies) r
             WHERE jsonb_typeof(r) <> 'object' OR coalesce(r->>'type', '') = '') THEN
    RAISE EXCEPTION 'every reply must be an object with a "type", e.g. {"type":"text","text":{"body":"hi"}}'
      USING ERRCODE = '22023';
  END IF;
  IF memory IS NOT NULL AND jsonb_typeof(memory) <> 'null' AND (
       jsonb_typeof(memory) <> 'object'
       OR jsonb_typeof(memory->'memory_id') IS DISTINCT FROM 'number'
       OR jsonb_typeof(coalesce(memory->'append', '[]')) <> 'array') THEN
    RAISE EXCEPTION 'memory must be {"memory_id": N, "append": [{"role": .., "content": ..}], "context": {..}}'
      USING ERRCODE = '22023';
  END IF;
  IF workflow IS NOT NULL AND jsonb_typeof(workflow) <> 'null'
     AND coalesce(workflow->>'action', '') NOT IN ('start', 'advance', 'complete', 'fail') THEN
    RAISE EXCEPTION 'workflow.action must be start, advance, complete or fail, got %',
      coalesce(workflow->>'action', 'nothing') USING ERRCODE = '22023';
  END IF;

  PERFORM pgmq.archive('wapipe_inbound', msg.queue_msg_id);
  took_ms := greatest(0, round(extract(epoch FROM now() - msg.claimed_at) * 1000))::integer;
  UPDATE wapipe.processed_messages m
     SET status = 'done', processed_at = now(), processing_ms = took_ms,
         handled_by = complete_message.handled_by, next_attempt_at = NULL
   WHERE m.id = msg.id;
  IF msg.turn_followers IS NOT NULL THEN
    -- the texts its coalesced turn answered (1045_conversation_turns): done with it, no
    -- reply of their own (the turn's reply is keyed by the head's wamid)
    WITH followed AS (
      UPDATE wapipe.processed_messages m
         SET status = 'done', processed_at = now(), processing_ms = took_ms,
             handled_by = complete_message.handled_by, next_attempt_at = NULL,
             claimed_by = complete_message.worker_id
       WHERE m.id = ANY (msg.turn_followers) AND m.processed_at IS NULL
         AND m.conversation_key = msg.conversation_key
      RETURNING m.queue_msg_id
    )
    SELECT array_agg(f.queue_msg_id) INTO followed FROM followed f;
    IF followed IS NOT NULL THEN
      PERFORM pgmq.archive('wapipe_inbound', followed);
    END IF;
  END IF;

  INSERT INTO wapipe.outbox (source_key, seq, source_message_id, phone_number_id, to_wa_id, body,
                             correlation_id)
  SELECT msg.wamid, (r.ord - 1)::smallint, msg.id, msg.phone_number_id, msg.from_wa_id, r.body,
         msg.correlation_id
  FROM jsonb_array_elements(replies) WITH ORDINALITY AS r(body, ord)
  ON CONFLICT (source_key, seq) DO NOTHING;

  -- Memory and workflow functions live in their own files and are resolved at
  -- run time. Entries are appended in order, hence the loop.
  IF jsonb_typeof(memory) = 'object' THEN
    FOR entry IN SELECT e FROM jsonb_array_elements(coalesce(memory->'append', '[]')) WITH ORDINALITY AS a(e, ord)
                 ORDER BY a.ord LOOP
      PERFORM wapipe.update_conversation_memory(
        (memory->>'memory_id')::bigint, entry->>'role', entry->>'content', memory->'context');
    END LOOP;
  END IF;
  CASE workflow->>'action'
    WHEN 'start' THEN
      PERFORM wapipe.start_workflow(
        coalesce(workflow->>'user_phone', msg.from_wa_id), workflow->>'workflow_type',
        workflow->>'first_step', coalesce(workflow->'data', '{}'),
        coalesce((workflow->>'timeout')::interval,
                 make_interval(secs => wapipe._setting_num('workflow.default_timeout_seconds')::double precision)),
        coalesce(workflow->>'phone_number_id', msg.phone_number_id));
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

  PERFORM wapipe._release_conversation_lease(msg.conversation_key);

  RETURN QUERY
    SELECT msg.id,
           coalesce((SELECT array_agg(o.id ORDER BY o.seq) FROM wapipe.outbox o
                     WHERE o.source_key = msg.wamid), '{}'),
           took_ms;
END
$$;
COMMENT ON FUNCTION wapipe.complete_message(bigint, text, jsonb, jsonb, jsonb, text) IS
  'Finish a message worker_id holds, atomically: archive from pgmq, status done with processing time, queue the reply in wapipe.outbox (once per (wamid, seq)), append conversation memory, apply a workflow action, free the conversation for its next message. Returns (message_id, outbox_ids, processing_ms); a repeat by the same worker returns the first result. Raises WA001 when worker_id does not hold the claim, 22023 for a malformed reply/memory/workflow.';
REVOKE ALL ON FUNCTION wapipe.complete_message(bigint, text, jsonb, jsonb, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.complete_message(bigint, text, jsonb, jsonb, jsonb, text) TO wapipe_worker;
