-- wapipe._release_conversation_leases: end the leases on conversations and point each at its next head.
-- Returns how many conversations it updated.
--
-- THE lease release rule, set-based, one UPDATE: every path that ends a claim
-- (complete, retry, dead letter, give-back, cleanup) goes through here (or through
-- _release_conversation_lease, its batch of one), so the head is recomputed whenever
-- nobody holds the conversation, and the backoff gate follows the new head (a head in
-- retry backoff keeps its next_attempt_at; any other head is available at once). A
-- finished head (done or dead) moves last_inbound_at, the 24-hour window's clock.
-- One UPDATE: each update of a row is a new row version, in the heap and the WAL.
-- Callers hold the rows (FOR UPDATE, taken in key order) before calling it.
CREATE OR REPLACE FUNCTION wapipe._release_conversation_leases(conversations text[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
DECLARE
  aging_step interval := make_interval(secs => wapipe._setting_num('claim.priority_aging_seconds'));
  n integer;
BEGIN
  UPDATE wapipe.conversations c
     SET locked_by = NULL, locked_until = NULL, locked_at = NULL,
         head_message_id   = h.id,
         head_priority     = h.priority,
         head_wa_timestamp = h.wa_timestamp,
         head_received_at  = h.received_at,
         head_rank         = CASE WHEN h.id IS NULL THEN NULL
                                  ELSE wapipe._conversation_rank(h.received_at, h.priority, aging_step) END,
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
  'Private: the lease release rule, set-based: clear each conversation''s lease, recompute its head, its backoff gate and last_inbound_at (from a finished head), in one UPDATE; returns how many rows it updated.';
REVOKE ALL ON FUNCTION wapipe._release_conversation_leases(text[]) FROM PUBLIC;

-- wapipe._release_conversation_lease: _release_conversation_leases for one conversation.
-- Returns the new head's processed_messages.id, or NULL when the conversation is idle.
CREATE OR REPLACE FUNCTION wapipe._release_conversation_lease(conversation text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  PERFORM wapipe._release_conversation_leases(ARRAY[conversation]);
  RETURN (SELECT c.head_message_id FROM wapipe.conversations c WHERE c.conversation_key = conversation);
END
$$;
COMMENT ON FUNCTION wapipe._release_conversation_lease(text) IS
  'Private: _release_conversation_leases of one: clear a conversation''s lease, recompute its head, its backoff gate and last_inbound_at (from a finished head); returns the new head id or NULL.';
REVOKE ALL ON FUNCTION wapipe._release_conversation_lease(text) FROM PUBLIC;

-- wapipe.acquire_message_lock: take or extend (heartbeat) the claim on one queued message.
-- Returns true when worker_id holds the claim afterwards; false when another worker validly
-- holds it, or the message is not its conversation's head, is in backoff, finished or unknown.
--
-- Extending keeps the attempt count; taking a message nobody validly holds is a
-- new attempt, exactly like a claim by get_next_queue_message. "Holds" is the one
-- claim rule (wapipe._claims_held); unlike the functions that raise when it fails,
-- this one answers false, and it also takes an eligible head nobody validly holds.
CREATE OR REPLACE FUNCTION wapipe.acquire_message_lock(
  msg_id bigint, worker_id text, lock_seconds integer DEFAULT 30)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  claim record;
  msg   wapipe.processed_messages;
  conv  wapipe.conversations;
  until timestamptz;
BEGIN
  IF coalesce(btrim(acquire_message_lock.worker_id), '') = '' THEN
    RAISE EXCEPTION 'worker_id must be a non-empty text' USING ERRCODE = '22023';
  END IF;
  IF lock_seconds IS NULL OR lock_seconds NOT BETWEEN 1 AND 3600 THEN
    RAISE EXCEPTION 'lock_seconds must be between 1 and 3600, got %', coalesce(lock_seconds::text, 'NULL')
      USING ERRCODE = '22023';
  END IF;

  -- the claim rule (wapipe._claims_held, 0015): conversation locked, message read again;
  -- not holding it is no error here: a message nobody validly holds may be taken
  SELECT h.msg, h.held INTO claim
  FROM wapipe._claims_held(ARRAY[acquire_message_lock.msg_id], acquire_message_lock.worker_id) h;
  msg := claim.msg;
  IF msg.id IS NULL THEN
    RETURN false;
  END IF;
  SELECT c.* INTO conv FROM wapipe.conversations c  -- locked by _claims_held
  WHERE c.conversation_key = msg.conversation_key;
  IF conv.conversation_key IS NULL OR conv.head_message_id IS DISTINCT FROM msg.id
     OR msg.status NOT IN ('queued', 'processing') THEN
    RETURN false;
  END IF;

  until := now() + make_interval(secs => lock_seconds);
  IF claim.held THEN
    -- heartbeat: still ours (an expired lease nobody took is still held)
    UPDATE wapipe.conversations c SET locked_until = until
     WHERE c.conversation_key = conv.conversation_key;
  ELSIF conv.locked_by IS NOT NULL AND conv.locked_by <> acquire_message_lock.worker_id
        AND conv.locked_until > now() THEN
    RETURN false;
  ELSIF conv.available_at > now() THEN
    RETURN false;
  ELSE
    UPDATE wapipe.conversations c
       SET locked_by = acquire_message_lock.worker_id, locked_until = until, locked_at = now()
     WHERE c.conversation_key = conv.conversation_key;
    UPDATE wapipe.processed_messages m
       SET status = 'processing', attempts = m.attempts + 1,
           claimed_by = acquire_message_lock.worker_id, claimed_at = now(), next_attempt_at = NULL,
           turn_followers = NULL  -- a new claim: a turn of one
     WHERE m.id = msg.id;
  END IF;
  PERFORM wapipe._inbound_set_vt(ARRAY[acquire_message_lock.msg_id], until);
  RETURN true;
END
$$;
COMMENT ON FUNCTION wapipe.acquire_message_lock(bigint, text, integer) IS
  'Take or extend (heartbeat) worker_id''s claim on a message for lock_seconds. True when held afterwards; false when another worker validly holds it or the message is not an eligible head (finished, unknown, not first in its conversation, in backoff). Taking counts as a new attempt.';
REVOKE ALL ON FUNCTION wapipe.acquire_message_lock(bigint, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.acquire_message_lock(bigint, text, integer) TO wapipe_worker;

-- wapipe.release_message_lock: give back a claimed message unprocessed (graceful shutdown).
-- Returns true when the claim was worker_id's and is released; false otherwise.
--
-- A give-back is not a failed attempt: the attempt count goes back down and the
-- message is available again at once. "Holds" is the one claim rule
-- (wapipe._claims_held); not holding it answers false here instead of raising.
CREATE OR REPLACE FUNCTION wapipe.release_message_lock(msg_id bigint, worker_id text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  claim record;
  msg   wapipe.processed_messages;
BEGIN
  -- the claim rule (wapipe._claims_held, 0015); not holding it is no error here: false
  SELECT h.msg, h.held INTO claim
  FROM wapipe._claims_held(ARRAY[release_message_lock.msg_id], release_message_lock.worker_id) h;
  IF NOT claim.held THEN
    RETURN false;
  END IF;
  msg := claim.msg;

  UPDATE wapipe.processed_messages m
     SET status = 'queued', attempts = greatest(m.attempts - 1, 0), next_attempt_at = NULL
   WHERE m.id = msg.id;
  PERFORM wapipe._release_conversation_lease(msg.conversation_key);
  PERFORM wapipe._inbound_set_vt(ARRAY[release_message_lock.msg_id], now());
  RETURN true;
END
$$;
COMMENT ON FUNCTION wapipe.release_message_lock(bigint, text) IS
  'Give back worker_id''s claim on a message unprocessed: back to queued, attempt not counted, available now. False when worker_id does not hold it.';
REVOKE ALL ON FUNCTION wapipe.release_message_lock(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.release_message_lock(bigint, text) TO wapipe_worker;
