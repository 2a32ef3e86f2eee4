-- wapipe.acquire_conversation_lock: take or extend a worker's lease on a whole conversation.
-- Returns true when worker_id holds the lease afterwards; false when another worker validly holds it.
--
-- It is the same lease a message claim takes, so claims skip the conversation
-- while it is held. The conversation row is created when missing.
CREATE OR REPLACE FUNCTION wapipe.acquire_conversation_lock(
  conversation text, worker_id text, ttl_seconds integer DEFAULT 300)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  conv wapipe.conversations;
BEGIN
  IF conversation IS NULL OR conversation !~ '^[^:[:space:]]+:[^:[:space:]]+$' THEN
    RAISE EXCEPTION 'conversation must look like ''phone_number_id:wa_id'', got %',
      coalesce(quote_literal(left(conversation, 80)), 'NULL') USING ERRCODE = '22023';
  END IF;
  IF coalesce(btrim(worker_id), '') = '' THEN
    RAISE EXCEPTION 'worker_id must be a non-empty text' USING ERRCODE = '22023';
  END IF;
  IF ttl_seconds IS NULL OR ttl_seconds NOT BETWEEN 1 AND 86400 THEN
    RAISE EXCEPTION 'ttl_seconds must be between 1 and 86400, got %', coalesce(ttl_seconds::text, 'NULL')
      USING ERRCODE = '22023';
  END IF;

  INSERT INTO wapipe.conversations (conversation_key, phone_number_id, wa_id)
  VALUES (conversation, split_part(conversation, ':', 1), split_part(conversation, ':', 2))
  ON CONFLICT (conversation_key) DO NOTHING;
  SELECT c.* INTO conv FROM wapipe.conversations c
  WHERE c.conversation_key = conversation FOR UPDATE;

  IF conv.locked_by IS NOT NULL AND conv.locked_by <> worker_id AND conv.locked_until > now() THEN
    RETURN false;
  END IF;
  UPDATE wapipe.conversations c
     SET locked_by = worker_id,
         locked_until = now() + make_interval(secs => ttl_seconds),
         locked_at = CASE WHEN c.locked_by IS NOT DISTINCT FROM worker_id THEN c.locked_at ELSE now() END
   WHERE c.conversation_key = conversation;
  RETURN true;
END
$$;
COMMENT ON FUNCTION wapipe.acquire_conversation_lock(text, text, integer) IS
  'Take or extend worker_id''s lease on a conversation (''phone_number_id:wa_id'') for ttl_seconds; claims skip it meanwhile. False when another worker validly holds it. Raises 22023 for a malformed key.';
REVOKE ALL ON FUNCTION wapipe.acquire_conversation_lock(text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.acquire_conversation_lock(text, text, integer) TO wapipe_worker;

-- wapipe.release_conversation_lock: end worker_id's lease on a conversation.
-- Returns true when the lease was worker_id's and is released; false otherwise.
--
-- A head this worker had claimed is given back (queued again, attempt not counted).
CREATE OR REPLACE FUNCTION wapipe.release_conversation_lock(conversation text, worker_id text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  conv wapipe.conversations;
  given_back bigint;
BEGIN
  SELECT c.* INTO conv FROM wapipe.conversations c
  WHERE c.conversation_key = conversation FOR UPDATE;
  IF NOT FOUND OR conv.locked_by IS DISTINCT FROM worker_id THEN
    RETURN false;
  END IF;
  UPDATE wapipe.processed_messages m
     SET status = 'queued', attempts = greatest(m.attempts - 1, 0), next_attempt_at = NULL
   WHERE m.id = conv.head_message_id AND m.status = 'processing' AND m.claimed_by = worker_id
  RETURNING m.queue_msg_id INTO given_back;
  PERFORM wapipe._release_conversation_lease(conversation);
  IF given_back IS NOT NULL THEN
    PERFORM wapipe._inbound_set_vt(ARRAY[given_back], now());
  END IF;
  RETURN true;
END
$$;
COMMENT ON FUNCTION wapipe.release_conversation_lock(text, text) IS
  'End worker_id''s lease on a conversation (a head it had claimed goes back to queued, attempt not counted). False when worker_id does not hold it.';
REVOKE ALL ON FUNCTION wapipe.release_conversation_lock(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.release_conversation_lock(text, text) TO wapipe_worker;
