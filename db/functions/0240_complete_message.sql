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
  -- like complete_messages: one generic plan per session, key probes only
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
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
  RETURN QUERY SELECT r.message_id, r.outbox_ids, r.processing_ms;
END
$$;
COMMENT ON FUNCTION wapipe.complete_message(bigint, text, jsonb, jsonb, jsonb, text) IS
  'Finish a message worker_id holds, atomically: archive from pgmq, status done with processing time, queue the reply in wapipe.outbox (once per (wamid, seq)), append conversation memory, apply a workflow action, free the conversation for its next message. Returns (message_id, outbox_ids, processing_ms); a repeat by the same worker returns the first result. Raises WA001 when worker_id does not hold the claim, 22023 for a malformed reply/memory/workflow.';
REVOKE ALL ON FUNCTION wapipe.complete_message(bigint, text, jsonb, jsonb, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.complete_message(bigint, text, jsonb, jsonb, jsonb, text) TO wapipe_worker;
