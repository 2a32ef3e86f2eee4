-- wapipe.pending_dead_letters: the dead letters an operator may still replay (operators only).
-- Returns those rows of wapipe.dead_letters, oldest first, matching every filter given, at most max_count.
--
-- The one "pending" rule: not replayed yet, its message still dead (a message
-- served again by other means is not replayed twice), and the latest such dead
-- letter of its message (one per message). requeue_dead_letters replays what this
-- returns, and `wapipe dlq list/replay` lists and counts it, so the CLI never
-- shows a dead letter the replay would refuse. Filters (NULL: no filter):
-- ids; error_code, the parsed code, or the start of the last error when it has
-- none (case-insensitive); error_like, an ILIKE pattern on the last error;
-- message_type; since (dead_at >= since). max_count NULL: all.
CREATE OR REPLACE FUNCTION wapipe.pending_dead_letters(
  ids bigint[] DEFAULT NULL, error_code text DEFAULT NULL, error_like text DEFAULT NULL,
  message_type text DEFAULT NULL, since timestamptz DEFAULT NULL, max_count integer DEFAULT NULL)
RETURNS SETOF wapipe.dead_letters
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
AS $$
  SELECT d.*
  FROM wapipe.dead_letters d
  JOIN wapipe.processed_messages m ON m.id = d.message_id AND m.status = 'dead'
  WHERE d.replayed_at IS NULL
    AND NOT EXISTS (SELECT 1 FROM wapipe.dead_letters later
                    WHERE later.message_id = d.message_id AND later.replayed_at IS NULL
                      AND (later.dead_at, later.id) > (d.dead_at, d.id))
    AND (pending_dead_letters.ids IS NULL OR d.id = ANY (pending_dead_letters.ids))
    AND (pending_dead_letters.error_code IS NULL
         OR d.error_code = pending_dead_letters.error_code
         OR (d.error_code IS NULL AND d.last_error ILIKE pending_dead_letters.error_code || '%'))
    AND (pending_dead_letters.error_like IS NULL OR d.last_error ILIKE pending_dead_letters.error_like)
    AND (pending_dead_letters.message_type IS NULL OR d.message_type = pending_dead_letters.message_type)
    AND (pending_dead_letters.since IS NULL OR d.dead_at >= pending_dead_letters.since)
  ORDER BY d.dead_at, d.id
  LIMIT pending_dead_letters.max_count
$$;
COMMENT ON FUNCTION wapipe.pending_dead_letters(bigint[], text, text, text, timestamptz, integer) IS
  'Operators: the dead letters still replayable (not replayed, message still dead, the latest of its message), oldest first, filtered by ids, error_code (code, or start of the last error without one), error_like (ILIKE), message_type, since; at most max_count (NULL: all). The one rule requeue_dead_letters and wapipe dlq use.';
REVOKE ALL ON FUNCTION wapipe.pending_dead_letters(bigint[], text, text, text, timestamptz, integer) FROM PUBLIC;

-- wapipe.requeue_dead_letters: replay chosen dead letters as fresh messages (operators only).
-- Returns one row per dead letter replayed (or, with dry_run, that would be): its id, message, wamid, new msg_id.
--
-- Choose by ids and/or filters (error_like is a case-insensitive LIKE pattern on
-- the last error); with neither it refuses, so nobody replays everything by
-- accident. Only pending dead letters are replayed: wapipe.pending_dead_letters
-- (0249) chooses them. A replayed message starts again at attempt 0 under a new
-- pgmq msg_id sent in the shape ingest_webhook uses; its conversation serves it in order
-- (a conversation held by a worker picks it up when that worker lets go).
-- Replies already queued for it are not queued again (outbox (wamid, seq)).
CREATE OR REPLACE FUNCTION wapipe.requeue_dead_letters(
  ids bigint[] DEFAULT NULL, error_like text DEFAULT NULL, message_type text DEFAULT NULL,
  since timestamptz DEFAULT NULL, max_count integer DEFAULT 1000, dry_run boolean DEFAULT false)
RETURNS TABLE (dead_letter_id bigint, message_id bigint, wamid text, msg_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
  chosen   jsonb;
  replayed jsonb;
BEGIN
  IF requeue_dead_letters.ids IS NULL AND requeue_dead_letters.error_like IS NULL
     AND requeue_dead_letters.message_type IS NULL AND requeue_dead_letters.since IS NULL THEN
    RAISE EXCEPTION 'choose dead letters: ids or a filter (error_like, message_type, since)'
      USING ERRCODE = '22023';
  END IF;
  IF requeue_dead_letters.max_count IS NULL OR requeue_dead_letters.max_count NOT BETWEEN 1 AND 100000 THEN
    RAISE EXCEPTION 'max_count must be between 1 and 100000, got %',
      coalesce(requeue_dead_letters.max_count::text, 'NULL') USING ERRCODE = '22023';
  END IF;

  -- what is pending (one dead letter per message, its message still dead): one rule, 0249
  SELECT coalesce(jsonb_agg(jsonb_build_object('dead_letter_id', x.id, 'message_id', x.message_id)
                            ORDER BY x.dead_at, x.id), '[]')
    INTO chosen
  FROM wapipe.pending_dead_letters(
         ids => requeue_dead_letters.ids, error_like => requeue_dead_letters.error_like,
         message_type => requeue_dead_letters.message_type, since => requeue_dead_letters.since,
         max_count => requeue_dead_letters.max_count) x;

  IF requeue_dead_letters.dry_run THEN
    RETURN QUERY
      SELECT (t.c->>'dead_letter_id')::bigint, m.id, m.wamid, NULL::bigint
      FROM jsonb_array_elements(chosen) WITH ORDINALITY AS t(c, o)
      JOIN wapipe.processed_messages m ON m.id = (t.c->>'message_id')::bigint
      ORDER BY t.o;
    RETURN;
  END IF;
  IF jsonb_array_length(chosen) = 0 THEN
    RETURN;  -- nothing matched (or all already replayed): no rows, not an error
  END IF;

  WITH picked AS MATERIALIZED (
    -- each a new queue id, in replay order
    SELECT x.*, nextval('pgmq.q_wapipe_inbound_msg_id_seq'::regclass) AS new_msg_id
    FROM (SELECT (t.c->>'dead_letter_id')::bigint AS dead_letter_id, m.*, t.o
          FROM jsonb_array_elements(chosen) WITH ORDINALITY AS t(c, o)
          JOIN wapipe.processed_messages m ON m.id = (t.c->>'message_id')::bigint
          ORDER BY t.o) x
  ), sent AS MATERIALIZED (
    -- one call of the queue's send (0020_queue_primitives), in the same queue entry
    -- shape as ingest_webhook: a reference to the stored message
    SELECT wapipe._inbound_send(
      ARRAY(SELECT p.new_msg_id FROM picked p ORDER BY p.o),
      ARRAY(SELECT jsonb_build_object(
              'wamid', p.wamid, 'conversation_key', p.conversation_key, 'type', p.message_type)
            FROM picked p ORDER BY p.o),
      ARRAY(SELECT jsonb_build_object(
              'x-pgmq-group', p.conversation_key, 'priority', p.priority,
              'correlation_id', p.correlation_id, 'replay_of_dead_letter', p.dead_letter_id)
            FROM picked p ORDER BY p.o),
      clock_timestamp()) AS queued
  ), requeued AS (
    UPDATE wapipe.processed_messages m
       SET status = 'queued', attempts = 0, queue_msg_id = p.new_msg_id, next_attempt_at = NULL,
           claimed_by = NULL, claimed_at = NULL, processed_at = NULL, processing_ms = NULL,
           -- a replay is a fresh start: any wait for a service begins again
           deferrals = 0, deferred_since = NULL, waiting_for = NULL
      FROM picked p CROSS JOIN sent  -- (joined so the send runs)
     WHERE m.id = p.id
    RETURNING p.dead_letter_id, m.id, m.wamid, m.queue_msg_id, m.conversation_key
  ), marked AS (
    UPDATE wapipe.dead_letters d SET replayed_at = now()
      FROM requeued r
     WHERE d.id = r.dead_letter_id
    RETURNING d.id
  )
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'dead_letter_id', r.dead_letter_id, 'message_id', r.id, 'wamid', r.wamid,
           'msg_id', r.queue_msg_id, 'conversation_key', r.conversation_key)), '[]')
    INTO replayed
  FROM requeued r;  -- (marked runs too: data-modifying CTEs always run to completion)

  -- a conversation nobody holds is re-pointed now; a held one when its holder lets go
  PERFORM wapipe._release_conversation_lease(k.conversation_key)
  FROM (SELECT DISTINCT e->>'conversation_key' AS conversation_key
        FROM jsonb_array_elements(replayed) e ORDER BY 1) k
  JOIN wapipe.conversations c ON c.conversation_key = k.conversation_key
  WHERE c.locked_by IS NULL;

  PERFORM wapipe._wake_workers();  -- pgmq's insert trigger is off (0014): wake workers here

  RETURN QUERY
    SELECT (e->>'dead_letter_id')::bigint, (e->>'message_id')::bigint, e->>'wamid',
           (e->>'msg_id')::bigint
    FROM jsonb_array_elements(replayed) e
    ORDER BY (e->>'msg_id')::bigint;
END
$$;
COMMENT ON FUNCTION wapipe.requeue_dead_letters(bigint[], text, text, timestamptz, integer, boolean) IS
  'Operators: replay not-yet-replayed dead letters chosen by ids and/or filters (error_like ILIKE, message_type, since), at most max_count, as fresh attempts under new pgmq msg_ids; dry_run lists them and changes nothing. Raises 22023 without ids or a filter.';
REVOKE ALL ON FUNCTION wapipe.requeue_dead_letters(bigint[], text, text, timestamptz, integer, boolean) FROM PUBLIC;
