-- wapipe.get_next_queue_message: claim the heads of up to `batch` conversations for one worker.
-- Returns one row per claimed message (at most one per conversation), best-ranked first.
--
-- Reads conversations_claim_idx in head_rank order (priority with aging, then age),
-- skipping conversations that are leased or in retry backoff, and takes them
-- FOR UPDATE SKIP LOCKED, so concurrent workers never wait for each other and the
-- cost is O(batch) whatever the backlog. Then the conversations get the lease,
-- their heads become 'processing' (a new attempt) and the pgmq visibility timeout
-- follows the lease. An expired lease is taken over, unless it was the message's
-- last allowed attempt: such a head crashed or hung every worker that took it, so
-- it goes to the dead letters instead (the one rule of
-- _dead_letter_abandoned_claims) and the walk starts again, now finding its
-- conversation's next message. Only the heads the walk reaches are checked: no
-- scan of every expired lease per claim (the minute cleanup covers the rest).
-- Conversations waiting for an unavailable service (defer_message) are not in the
-- index while they wait: the claim first puts back up to `batch` whose time has come.
-- Plans: generic, and never a sequential scan, a bitmap scan, a sort (the index gives
-- the order), a merge or a hash join, so the claim stays an index walk of O(batch)
-- even when its plan was made while the tables were small or their statistics stale
-- (a fresh database that filled up: seq scans and a sort of every conversation, ~3 ms
-- per claim of 16 at 3000 queued; without statistics, a bitmap scan and a sort of
-- every head: 302 rows read for a claim of 2), and although a generic plan cannot see
-- how small `batch` is (it merge-joined every conversation with the messages: 4.5 ms
-- per claim of 10 at 100 000 queued, now 0.8 ms).
CREATE OR REPLACE FUNCTION wapipe.get_next_queue_message(
  worker_id text, lock_seconds integer DEFAULT 30, batch integer DEFAULT 10)
RETURNS TABLE (
  msg_id bigint, message_id bigint, wamid text, conversation_key text, phone_number_id text,
  from_wa_id text, message_type text, priority smallint, attempt integer, payload jsonb,
  contact jsonb, correlation_id text, locked_until timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off SET enable_bitmapscan = off
  SET enable_sort = off
AS $$
#variable_conflict use_column
DECLARE
  max_attempts numeric := wapipe._setting_num('retry.max_attempts');
  v_keys       text[];
  v_heads      bigint[];
  v_ranks      timestamptz[];
  v_abandoned  text[];
BEGIN
  IF coalesce(btrim(get_next_queue_message.worker_id), '') = '' THEN
    RAISE EXCEPTION 'worker_id must be a non-empty text' USING ERRCODE = '22023';
  END IF;
  IF get_next_queue_message.lock_seconds IS NULL
     OR get_next_queue_message.lock_seconds NOT BETWEEN 1 AND 3600 THEN
    RAISE EXCEPTION 'lock_seconds must be between 1 and 3600, got %',
      coalesce(get_next_queue_message.lock_seconds::text, 'NULL') USING ERRCODE = '22023';
  END IF;
  IF get_next_queue_message.batch IS NULL OR get_next_queue_message.batch NOT BETWEEN 1 AND 1000 THEN
    RAISE EXCEPTION 'batch must be between 1 and 1000, got %',
      coalesce(get_next_queue_message.batch::text, 'NULL') USING ERRCODE = '22023';
  END IF;

  -- Deferred conversations (defer_message) are out of conversations_claim_idx while
  -- they wait; those whose time has come go back in, oldest first, at most a batch
  -- per claim (conversations_deferred_idx), so the walk below never steps over them.
  UPDATE wapipe.conversations c
     SET deferred_until = NULL
   WHERE c.conversation_key = ANY (ARRAY(
           SELECT d.conversation_key FROM wapipe.conversations d
           WHERE d.deferred_until IS NOT NULL AND d.deferred_until <= now()
           ORDER BY d.deferred_until
           LIMIT get_next_queue_message.batch
           FOR UPDATE SKIP LOCKED));

  LOOP
    SELECT coalesce(array_agg(k.conversation_key ORDER BY k.head_rank, k.conversation_key), '{}'),
           coalesce(array_agg(k.head_message_id ORDER BY k.head_rank, k.conversation_key), '{}'),
           coalesce(array_agg(k.head_rank ORDER BY k.head_rank, k.conversation_key), '{}'),
           coalesce(array_agg(k.conversation_key ORDER BY k.conversation_key)
                      FILTER (WHERE k.abandoned), '{}')
      INTO v_keys, v_heads, v_ranks, v_abandoned
    FROM (
      SELECT c.conversation_key, c.head_message_id, c.head_rank,
             -- an expired lease of the last allowed attempt, held by the message's claimer
             c.locked_by IS NOT NULL AND h.status = 'processing' AND h.claimed_by = c.locked_by
               AND h.attempts >= max_attempts AS abandoned
      FROM wapipe.conversations c
      -- a head pointer left on a finished message is repaired by the cleanup, never claimed
      JOIN wapipe.processed_messages h
        ON h.id = c.head_message_id AND h.status IN ('queued', 'processing')
      WHERE c.head_message_id IS NOT NULL AND c.deferred_until IS NULL  -- conversations_claim_idx
        AND c.available_at <= now()
        AND (c.locked_by IS NULL OR c.locked_until <= now())
      ORDER BY c.head_rank
      LIMIT get_next_queue_message.batch
      FOR UPDATE OF c SKIP LOCKED) k;
    EXIT WHEN cardinality(v_abandoned) = 0;
    -- dead letters, in key order (the locks are held already); then walk again
    PERFORM wapipe.schedule_message_retry(
              m.queue_msg_id, c.locked_by,
              format('abandoned: the lease of attempt %s expired without a result (worker crashed or hung)',
                     m.attempts),
              false)
    FROM unnest(v_abandoned) WITH ORDINALITY AS a(conversation_key, n)
    JOIN wapipe.conversations c ON c.conversation_key = a.conversation_key
    JOIN wapipe.processed_messages m ON m.id = c.head_message_id
    ORDER BY a.n;
  END LOOP;
  IF cardinality(v_keys) = 0 THEN
    RETURN;
  END IF;

  RETURN QUERY
  WITH candidates AS (
    SELECT k.conversation_key, k.head_message_id, k.head_rank
    FROM unnest(v_keys, v_heads, v_ranks) AS k(conversation_key, head_message_id, head_rank)
  ), leased AS (
    UPDATE wapipe.conversations c
       SET locked_by = get_next_queue_message.worker_id,
           locked_until = now() + make_interval(secs => get_next_queue_message.lock_seconds),
           locked_at = now()
      FROM candidates k
     WHERE c.conversation_key = k.conversation_key
    RETURNING c.conversation_key, c.head_message_id, c.locked_until, k.head_rank
  ), claimed AS (
    UPDATE wapipe.processed_messages m
       SET status = 'processing', attempts = m.attempts + 1,
           claimed_by = get_next_queue_message.worker_id, claimed_at = now(),
           next_attempt_at = NULL,
           turn_followers = NULL  -- a turn of one until claim_messages gathers its burst
      FROM leased l
     WHERE m.id = l.head_message_id
    RETURNING m.queue_msg_id, m.id, m.wamid, m.conversation_key, m.phone_number_id, m.from_wa_id,
              m.message_type, m.priority, m.attempts, m.payload, m.contact, m.correlation_id,
              l.locked_until, l.head_rank
  ), visibility AS MATERIALIZED (
    -- every lease of this call ends at the same instant: pgmq's vt follows in one
    -- call of the queue's set_vt (0020_queue_primitives); joined below so it runs
    SELECT wapipe._inbound_set_vt(ARRAY(SELECT cl.queue_msg_id FROM claimed cl),
                                  now() + make_interval(secs => get_next_queue_message.lock_seconds))
             AS moved
  )
  SELECT cl.queue_msg_id, cl.id, cl.wamid, cl.conversation_key, cl.phone_number_id, cl.from_wa_id,
         cl.message_type, cl.priority, cl.attempts, cl.payload, cl.contact, cl.correlation_id,
         cl.locked_until
  FROM claimed cl
  CROSS JOIN visibility
  ORDER BY cl.head_rank, cl.conversation_key;
END
$$;
COMMENT ON FUNCTION wapipe.get_next_queue_message(text, integer, integer) IS
  'Claim up to batch conversation heads for worker_id (priority with aging, then FIFO; one message per conversation; leased or backed-off conversations skipped; O(batch) via conversations_claim_idx). Each claim is a new attempt leased for lock_seconds (pgmq vt follows). Raises 22023 for bad arguments.';

REVOKE ALL ON FUNCTION wapipe.get_next_queue_message(text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.get_next_queue_message(text, integer, integer) TO wapipe_worker;
