-- wapipe._claim_turns: the texts queued behind claimed heads that each head's agent turn answers too, recorded on the head.
-- Returns one row per head that has followers: the head's processed_messages.id and its burst (a JSON array, conversation order).
--
-- THE rule of a burst, in one place (claim_messages and extend_turn use it): a turn
-- is a text head plus the unfinished messages right behind it in conversation order
-- ((wa_timestamp, id)) that are queued texts, each sent (WhatsApp time) at most
-- gap_seconds after the one before it. The first message that is not a text
-- (media, location, a button or list reply, a reaction, a revoke ...), or comes
-- after a longer pause, ends the burst: it is its own turn later, in order. At most
-- claim.max_turn_messages messages per turn, the head included. A head that is not
-- a text being processed, or a gap of 0, gathers nothing. The followers' ids are
-- written into the head's turn_followers (NULL when none), so completion finishes
-- them with the head and a dead letter of the head takes them along; they stay
-- 'queued' meanwhile, kept from every other worker by the conversation's lease
-- (only a head is ever claimed). Cost: one index probe of at most
-- claim.max_turn_messages rows per head (processed_messages_unfinished_idx).
-- Callers hold the heads' claims.
CREATE OR REPLACE FUNCTION wapipe._claim_turns(heads bigint[], gap_seconds numeric[])
RETURNS TABLE (head_id bigint, burst jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  -- (no planner settings of its own: it plans under its callers', which all set them)
AS $$
#variable_conflict use_column
DECLARE
  max_followers integer := wapipe._setting_num('claim.max_turn_messages')::integer - 1;
BEGIN
  RETURN QUERY
  WITH found AS MATERIALIZED (
    SELECT k.head_id, s.id, s.queue_msg_id, s.wamid, s.payload, s.wa_timestamp, s.received_at
    FROM unnest(heads, gap_seconds) AS k(head_id, gap)
    JOIN wapipe.processed_messages h ON h.id = k.head_id
    CROSS JOIN LATERAL (
      SELECT g.*
      FROM (
        SELECT b.*, bool_or(b.breaks) OVER (ORDER BY b.wa_timestamp, b.id
                                            ROWS UNBOUNDED PRECEDING) AS ended
        FROM (
          SELECT m.id, m.queue_msg_id, m.wamid, m.payload, m.wa_timestamp, m.received_at,
                 m.message_type <> 'text' OR m.status <> 'queued'
                   OR m.wa_timestamp - lag(m.wa_timestamp, 1, h.wa_timestamp)
                                         OVER (ORDER BY m.wa_timestamp, m.id)
                      > make_interval(secs => k.gap::double precision) AS breaks
          FROM (SELECT m0.id, m0.queue_msg_id, m0.wamid, m0.payload, m0.wa_timestamp,
                       m0.received_at, m0.message_type, m0.status
                FROM wapipe.processed_messages m0
                WHERE m0.conversation_key = h.conversation_key AND m0.processed_at IS NULL
                  AND (m0.wa_timestamp, m0.id) > (h.wa_timestamp, h.id)
                ORDER BY m0.wa_timestamp, m0.id
                LIMIT greatest(max_followers, 0)) m) b) g
      WHERE NOT g.ended) s
    WHERE k.gap > 0 AND h.message_type = 'text' AND h.status = 'processing'
  ), turns AS MATERIALIZED (
    SELECT f.head_id,
           array_agg(f.id ORDER BY f.wa_timestamp, f.id) AS ids,
           jsonb_agg(jsonb_build_object('msg_id', f.queue_msg_id, 'message_id', f.id,
                                        'wamid', f.wamid, 'payload', f.payload,
                                        'received_at', f.received_at)
                     ORDER BY f.wa_timestamp, f.id) AS burst
    FROM found f
    GROUP BY f.head_id
  ), recorded AS (
    UPDATE wapipe.processed_messages m
       SET turn_followers = t.ids
      FROM turns t
     WHERE m.id = t.head_id
    RETURNING m.id
  )
  SELECT t.head_id, t.burst
  FROM turns t
  WHERE t.head_id IN (SELECT r.id FROM recorded r);
END
$$;
COMMENT ON FUNCTION wapipe._claim_turns(bigint[], numeric[]) IS
  'Private: for claimed text heads, the queued texts right behind each (each sent at most gap_seconds after the previous, up to claim.max_turn_messages per turn; a non-text or a longer pause ends it), recorded in the head''s turn_followers; returns (head_id, burst JSON array) for heads with followers.';
REVOKE ALL ON FUNCTION wapipe._claim_turns(bigint[], numeric[]) FROM PUBLIC;

-- wapipe.extend_turn: gather a claimed head's burst again (debounce: after waiting for a quiet period).
-- Returns the burst (JSON array as claim_messages returns it, '[]' when none) and how long the conversation has been quiet (seconds since its newest message of the turn arrived).
--
-- The rule of wapipe._claim_turns, applied again to one head the worker holds: texts
-- that arrived since the claim join the turn (the lease kept every other worker away
-- from them). Raises WA001 when worker_id does not hold the claim, 22023 for a
-- negative gap.
CREATE OR REPLACE FUNCTION wapipe.extend_turn(msg_id bigint, worker_id text, coalesce_seconds numeric)
RETURNS TABLE (burst jsonb, quiet_seconds double precision)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  -- (the planner settings of the helpers it calls, which have none of their own)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
#variable_conflict use_column
DECLARE
  msg   wapipe.processed_messages;
  v_burst jsonb;
BEGIN
  IF extend_turn.coalesce_seconds IS NULL OR extend_turn.coalesce_seconds < 0 THEN
    RAISE EXCEPTION 'coalesce_seconds must be zero or more, got %',
      coalesce(extend_turn.coalesce_seconds::text, 'NULL') USING ERRCODE = '22023';
  END IF;
  msg := wapipe._claim_held(extend_turn.msg_id, extend_turn.worker_id);  -- the claim rule (0015)

  SELECT t.burst INTO v_burst
  FROM wapipe._claim_turns(ARRAY[msg.id], ARRAY[extend_turn.coalesce_seconds]) t;
  IF v_burst IS NULL THEN
    UPDATE wapipe.processed_messages m SET turn_followers = NULL
     WHERE m.id = msg.id AND m.turn_followers IS NOT NULL;
  END IF;
  RETURN QUERY
  SELECT coalesce(v_burst, '[]'::jsonb),
         extract(epoch FROM now() - greatest(
           msg.received_at,
           (SELECT max((b->>'received_at')::timestamptz) FROM jsonb_array_elements(v_burst) b)))::double precision;
END
$$;
COMMENT ON FUNCTION wapipe.extend_turn(bigint, text, numeric) IS
  'Gather again the burst of a text head worker_id holds (the rule of _claim_turns with gap coalesce_seconds; texts that arrived since the claim join), recorded on the head; returns (burst JSON array, quiet_seconds since its newest message arrived). Raises WA001 when worker_id does not hold the claim, 22023 for a negative gap.';
REVOKE ALL ON FUNCTION wapipe.extend_turn(bigint, text, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.extend_turn(bigint, text, numeric) TO wapipe_worker;

-- wapipe._dead_letter_turn_followers: a head went to the dead letters: the texts its turn answered go with it.
-- Returns how many followers it dead-lettered.
--
-- Called by schedule_message_retry right after it dead-lettered the head (conversation
-- locked): each unfinished follower recorded in the head's turn_followers becomes a
-- dead letter with the head's error (its own attempts, none spent), so the turn is
-- replayed or dropped as a whole and never answered in pieces.
CREATE OR REPLACE FUNCTION wapipe._dead_letter_turn_followers(head_id bigint, error text, worker_id text)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  head wapipe.processed_messages;
  n    integer;
BEGIN
  SELECT m.* INTO head FROM wapipe.processed_messages m WHERE m.id = head_id;
  IF head.turn_followers IS NULL THEN
    RETURN 0;
  END IF;
  WITH followers AS (
    SELECT m.id, m.wamid, m.conversation_key, m.message_type, m.queue_msg_id, m.attempts,
           m.correlation_id,
           m.error_history || jsonb_build_array(jsonb_build_object(
             'attempt', m.attempts, 'error', error, 'at', now(), 'worker', worker_id,
             'turn_of', head.wamid)) AS history
    FROM wapipe.processed_messages m
    WHERE m.id = ANY (head.turn_followers) AND m.processed_at IS NULL
      AND m.conversation_key = head.conversation_key
  ), lettered AS (
    INSERT INTO wapipe.dead_letters (
      message_id, wamid, conversation_key, message_type, queue_msg_id, last_error, error_code,
      error_history, attempts, correlation_id)
    SELECT f.id, f.wamid, f.conversation_key, f.message_type, f.queue_msg_id, error,
           substring(error FROM '^\s*\[?([A-Za-z0-9_.-]{1,40})\]?:\s'),
           f.history, f.attempts, f.correlation_id
    FROM followers f
    RETURNING 1
  ), dead AS (
    UPDATE wapipe.processed_messages m
       SET status = 'dead', processed_at = now(), next_attempt_at = NULL, waiting_for = NULL,
           last_error = error, error_history = f.history
      FROM followers f
     WHERE m.id = f.id
    RETURNING m.queue_msg_id
  )
  SELECT wapipe._inbound_archive(ARRAY(SELECT d.queue_msg_id FROM dead d)) INTO n;
  RETURN n;
END
$$;
COMMENT ON FUNCTION wapipe._dead_letter_turn_followers(bigint, text, text) IS
  'Private: dead-letter the unfinished followers recorded in a dead-lettered head''s turn_followers with the head''s error; returns how many.';
REVOKE ALL ON FUNCTION wapipe._dead_letter_turn_followers(bigint, text, text) FROM PUBLIC;
