-- wapipe._claim_held: the claimed inbound message a worker holds, with its conversation
-- locked (FOR UPDATE) for the caller's transaction. Raises 55000 when it does not hold it.
--
-- The one "holds the claim" rule of the inbound family (as _outbox_held is the
-- outbox's): looked up by its pgmq msg_id, the conversation locked first (the order
-- every writer of a conversation takes), the message read again under that lock;
-- held means still processing, claimed by this worker, whose lease the conversation
-- carries, and the conversation's head.
CREATE OR REPLACE FUNCTION wapipe._claim_held(msg_id bigint, worker_id text)
RETURNS wapipe.processed_messages
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  msg  wapipe.processed_messages;
  conv wapipe.conversations;
BEGIN
  SELECT m.* INTO msg FROM wapipe.processed_messages m WHERE m.queue_msg_id = _claim_held.msg_id;
  IF FOUND THEN
    SELECT c.* INTO conv FROM wapipe.conversations c
    WHERE c.conversation_key = msg.conversation_key FOR UPDATE;
    SELECT m.* INTO msg FROM wapipe.processed_messages m WHERE m.id = msg.id;
  END IF;
  IF msg.id IS NULL OR msg.status <> 'processing'
     OR msg.claimed_by IS DISTINCT FROM _claim_held.worker_id
     OR conv.locked_by IS DISTINCT FROM _claim_held.worker_id
     OR conv.head_message_id IS DISTINCT FROM msg.id THEN
    RAISE EXCEPTION 'worker % does not hold the claim on message %', _claim_held.worker_id, _claim_held.msg_id
      USING ERRCODE = '55000',
            DETAIL = 'It is unknown, finished, or its lease was taken over by another worker.',
            HINT = 'Claim it with get_next_queue_message or acquire_message_lock first.';
  END IF;
  RETURN msg;
END
$$;
COMMENT ON FUNCTION wapipe._claim_held(bigint, text) IS
  'Private: the processed_messages row of the claimed message (pgmq msg_id) worker_id holds, its conversation locked FOR UPDATE; raises 55000 (with DETAIL and HINT) when worker_id does not hold the claim.';
REVOKE ALL ON FUNCTION wapipe._claim_held(bigint, text) FROM PUBLIC;
