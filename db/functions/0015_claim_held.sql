-- wapipe._claims_held: which of these claimed inbound messages a worker holds, their conversations locked (FOR UPDATE).
-- Returns one row per msg_id (ord = its position, from 1): the processed_messages row read under the lock (NULL when unknown) and held.
--
-- THE "holds the claim" rule of the inbound family, set-based and in one place
-- (as _outbox_held is the outbox's); the single-message forms (_claim_held,
-- release_message_lock, acquire_message_lock's heartbeat) are its batch of one,
-- complete_messages (and complete_message through it) its batch. The conversations of all the messages
-- are locked first, in key order (the order every writer of a conversation takes
-- them in), then each message is read again under that lock. Held means: known,
-- still processing, claimed by this worker, whose lease the conversation carries
-- (an expired lease nobody took counts), and the conversation's head. Raises
-- nothing: each caller decides what "not held" means for it.
CREATE OR REPLACE FUNCTION wapipe._claims_held(msg_ids bigint[], worker_id text)
RETURNS TABLE (ord integer, msg wapipe.processed_messages, held boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  -- called on every completion: one generic plan per session, key probes only
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
#variable_conflict use_column
BEGIN
  PERFORM 1
  FROM wapipe.conversations c
  WHERE c.conversation_key IN (SELECT m.conversation_key FROM wapipe.processed_messages m
                               WHERE m.queue_msg_id = ANY (_claims_held.msg_ids))
  ORDER BY c.conversation_key
  FOR UPDATE OF c;
  RETURN QUERY
  SELECT e.n::integer, m,
         m.id IS NOT NULL AND m.status = 'processing'
         AND m.claimed_by IS NOT DISTINCT FROM _claims_held.worker_id
         AND c.locked_by IS NOT DISTINCT FROM _claims_held.worker_id
         AND c.head_message_id IS NOT DISTINCT FROM m.id
  FROM unnest(_claims_held.msg_ids) WITH ORDINALITY AS e(msg_id, n)
  LEFT JOIN wapipe.processed_messages m ON m.queue_msg_id = e.msg_id
  LEFT JOIN wapipe.conversations c ON c.conversation_key = m.conversation_key
  ORDER BY e.n;
END
$$;
COMMENT ON FUNCTION wapipe._claims_held(bigint[], text) IS
  'Private: the one "holds the claim" rule of inbound messages, set-based: locks the conversations of msg_ids (pgmq msg_ids) in key order, then returns per item (ord, the processed_messages row read under the lock or NULL, held = processing, claimed by worker_id, leased to it, the head). Raises nothing.';
REVOKE ALL ON FUNCTION wapipe._claims_held(bigint[], text) FROM PUBLIC;

-- wapipe._claim_lost_message: the message of the inbound "lease not held" refusal (WA001).
-- Returns 'worker <worker_id> does not hold the claim on message <msg_id>'.
-- (A pure expression: plain SQL, inlined where it is used; db/README.md house rules.)
CREATE OR REPLACE FUNCTION wapipe._claim_lost_message(worker_id text, msg_id bigint)
RETURNS text
LANGUAGE sql STABLE
RETURN format('worker %s does not hold the claim on message %s', worker_id, msg_id);
COMMENT ON FUNCTION wapipe._claim_lost_message(text, bigint) IS
  'Private (pure, inlined): the message of the inbound WA001 refusal, as _claim_held raises it and complete_messages reports it.';
REVOKE ALL ON FUNCTION wapipe._claim_lost_message(text, bigint) FROM PUBLIC;

-- wapipe._raise_claim_lost: raise the inbound "lease not held" error (WA001) with its DETAIL and HINT.
-- Returns nothing: it always raises, with the given message (_claim_lost_message).
--
-- The one text of this error: _claim_held raises it, complete_message re-raises a
-- claim_lost outcome of complete_messages through it.
CREATE OR REPLACE FUNCTION wapipe._raise_claim_lost(message text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  RAISE EXCEPTION USING MESSAGE = message, ERRCODE = 'WA001',
    DETAIL = 'It is unknown, finished (done or dead), or its lease was taken over by another worker.',
    HINT = 'Do not answer it: the worker holding the claim will.';
END
$$;
COMMENT ON FUNCTION wapipe._raise_claim_lost(text) IS
  'Private: raise WA001 (lease not held, inbound) with the given message and the one DETAIL and HINT of that error.';
REVOKE ALL ON FUNCTION wapipe._raise_claim_lost(text) FROM PUBLIC;

-- wapipe._claim_held: the claimed inbound message a worker holds, with its conversation
-- locked (FOR UPDATE) for the caller's transaction. Raises WA001 when it does not hold it.
--
-- _claims_held for one message, raising _raise_claim_lost when not held: used by
-- schedule_message_retry, defer_message and extend_turn.
CREATE OR REPLACE FUNCTION wapipe._claim_held(msg_id bigint, worker_id text)
RETURNS wapipe.processed_messages
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  claim record;
BEGIN
  SELECT h.msg, h.held INTO claim FROM wapipe._claims_held(ARRAY[_claim_held.msg_id], _claim_held.worker_id) h;
  IF NOT claim.held THEN
    PERFORM wapipe._raise_claim_lost(wapipe._claim_lost_message(_claim_held.worker_id, _claim_held.msg_id));
  END IF;
  RETURN claim.msg;
END
$$;
COMMENT ON FUNCTION wapipe._claim_held(bigint, text) IS
  'Private: _claims_held for one message: its processed_messages row, the conversation locked FOR UPDATE; raises WA001 (lease not held; with DETAIL and HINT) when worker_id does not hold the claim.';
REVOKE ALL ON FUNCTION wapipe._claim_held(bigint, text) FROM PUBLIC;
