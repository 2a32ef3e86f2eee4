-- wapipe.cleanup_old_messages: retention; delete finished work older than `retention` (operators / pg_cron).
-- Returns the number of rows deleted, over every table it prunes.
--
-- Pending outbox rows and live state are never touched. The partitioned history
-- (webhook_events, service_calls, the pgmq archive, and processed_messages with its
-- dedup rows: the dedup window, retention.messages_days) is not deleted row by row:
-- maintain_partitions drops its days. message_statuses (unpartitioned: why,
-- db/README.md) is deleted oldest first, at most retention.batch_rows per run, so one
-- run stays short whatever backlog a pause left (the next hourly run takes the rest).
CREATE OR REPLACE FUNCTION wapipe.cleanup_old_messages(retention interval DEFAULT '7 days')
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  cutoff  timestamptz;
  n       integer;
  total   integer := 0;
  batch   integer;
BEGIN
  IF retention IS NULL OR retention <= interval '0' THEN
    RAISE EXCEPTION 'retention must be a positive interval, got %', coalesce(retention::text, 'NULL')
      USING ERRCODE = '22023';
  END IF;
  cutoff := now() - retention;
  batch := wapipe._setting_num('retention.batch_rows')::integer;

  DELETE FROM wapipe.dead_letters d WHERE d.dead_at < cutoff;
  GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
  DELETE FROM wapipe.webhook_errors e WHERE e.received_at < cutoff;
  GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
  DELETE FROM wapipe.message_statuses s
   WHERE s.wamid = ANY (ARRAY(
     SELECT o.wamid FROM wapipe.message_statuses o
      WHERE o.updated_at < cutoff ORDER BY o.updated_at LIMIT batch));
  GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
  DELETE FROM wapipe.outbox o
   WHERE o.status IN ('sent', 'failed', 'dry_run', 'window_closed') AND o.created_at < cutoff;
  GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
  DELETE FROM wapipe.breaker_buckets b WHERE b.bucket_at < cutoff;
  GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
  -- an idle bucket is full again: dropping it changes no decision
  DELETE FROM wapipe.rate_limit_buckets r WHERE r.updated_at < now() - interval '1 day';
  GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
  RETURN total;
END
$$;
COMMENT ON FUNCTION wapipe.cleanup_old_messages(interval) IS
  'Operators: delete statuses (oldest first, at most retention.batch_rows per run), dead letters, webhook errors, finished outbox rows and breaker buckets older than retention, and rate-limit buckets idle over a day; processed messages (the dedup window), webhook events, service calls and the pgmq archive are dropped by day by maintain_partitions. Returns rows deleted.';
REVOKE ALL ON FUNCTION wapipe.cleanup_old_messages(interval) FROM PUBLIC;

-- wapipe.cleanup_stale_message_locks: clear leases that expired more than `stale_after` ago.
-- Returns the number of conversations released (dead-lettered heads included).
--
-- A claim's lease expiring means its worker died or hung; its head goes back
-- to 'queued' and visible in pgmq (the expired attempt still counts), or to the
-- dead letters when that was its last allowed attempt.
CREATE OR REPLACE FUNCTION wapipe.cleanup_stale_message_locks(stale_after interval DEFAULT '5 minutes')
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  stale   text[];
  vt_ids  bigint[];
  dead    integer;
BEGIN
  IF stale_after IS NULL OR stale_after < interval '0' THEN
    RAISE EXCEPTION 'stale_after must be a non-negative interval, got %', coalesce(stale_after::text, 'NULL')
      USING ERRCODE = '22023';
  END IF;

  -- exhausted ones go to the dead letters, as a claim would do; the rest are requeued
  dead := wapipe._dead_letter_abandoned_claims(now() - stale_after);

  SELECT coalesce(array_agg(k.conversation_key ORDER BY k.conversation_key), '{}') INTO stale
  FROM (SELECT c.conversation_key FROM wapipe.conversations c
        WHERE c.locked_by IS NOT NULL AND c.locked_until < now() - stale_after
        ORDER BY c.conversation_key
        FOR UPDATE SKIP LOCKED) k;

  WITH requeued AS (
    UPDATE wapipe.processed_messages m
       SET status = 'queued'
      FROM wapipe.conversations c
     WHERE c.conversation_key = ANY (stale) AND m.id = c.head_message_id AND m.status = 'processing'
    RETURNING m.queue_msg_id
  )
  SELECT coalesce(array_agg(r.queue_msg_id), '{}') INTO vt_ids FROM requeued r;
  PERFORM wapipe._release_conversation_leases(stale);  -- (held above, in key order)
  PERFORM wapipe._inbound_set_vt(vt_ids, now());
  RETURN dead + cardinality(stale);
END
$$;
COMMENT ON FUNCTION wapipe.cleanup_stale_message_locks(interval) IS
  'Operators / pg_cron: clear leases expired more than stale_after ago; their processing heads go back to queued and visible, or to the dead letters after their last allowed attempt. Returns conversations released.';
REVOKE ALL ON FUNCTION wapipe.cleanup_stale_message_locks(interval) FROM PUBLIC;

-- wapipe.cleanup_stuck_webhook_conversations: repair head pointers and orphaned claims older than `stuck_after`.
-- Returns the number of rows repaired (messages re-queued plus conversations re-pointed).
--
-- Catches what a dead worker or an interrupted path can leave behind: a
-- 'processing' message whose conversation is not leased to its claimer, a
-- conversation without a head although unfinished messages wait, or one whose
-- head is finished, missing or not the oldest unfinished message. Conversations
-- validly leased are left to their holder.
CREATE OR REPLACE FUNCTION wapipe.cleanup_stuck_webhook_conversations(stuck_after interval DEFAULT '5 minutes')
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  cutoff     timestamptz;
  orphans    bigint[];
  orphan_keys text[];
  wrong      text[];
BEGIN
  IF stuck_after IS NULL OR stuck_after < interval '0' THEN
    RAISE EXCEPTION 'stuck_after must be a non-negative interval, got %', coalesce(stuck_after::text, 'NULL')
      USING ERRCODE = '22023';
  END IF;
  cutoff := now() - stuck_after;

  -- claims nobody holds any more; conversation rows are locked before messages, the
  -- order every claim path uses, and ones busy right now are left for the next run
  WITH targets AS (
    SELECT m.id
    FROM wapipe.processed_messages m
    JOIN wapipe.conversations c ON c.conversation_key = m.conversation_key
    WHERE m.processed_at IS NULL AND m.status = 'processing' AND m.claimed_at < cutoff
      AND (c.head_message_id IS DISTINCT FROM m.id OR c.locked_by IS DISTINCT FROM m.claimed_by)
    FOR UPDATE OF c SKIP LOCKED
  ), orphaned AS (
    UPDATE wapipe.processed_messages m
       SET status = 'queued'
      FROM targets t
     WHERE m.id = t.id
    RETURNING m.queue_msg_id, m.conversation_key
  )
  SELECT coalesce(array_agg(o.queue_msg_id), '{}'), coalesce(array_agg(DISTINCT o.conversation_key), '{}')
    INTO orphans, orphan_keys
  FROM orphaned o;
  PERFORM wapipe._inbound_set_vt(orphans, now());

  -- conversations whose head is not their oldest unfinished message
  SELECT coalesce(array_agg(w.conversation_key ORDER BY w.conversation_key), '{}') INTO wrong
  FROM (
    SELECT c.conversation_key
    FROM wapipe.conversations c
    LEFT JOIN wapipe.processed_messages cur ON cur.id = c.head_message_id
    LEFT JOIN LATERAL (
      SELECT m.id, m.received_at FROM wapipe.processed_messages m
      WHERE m.conversation_key = c.conversation_key AND m.processed_at IS NULL  -- unfinished
      ORDER BY m.wa_timestamp, m.id LIMIT 1) oldest ON true
    WHERE (c.locked_by IS NULL OR c.locked_until < cutoff)
      AND (c.head_message_id IS DISTINCT FROM oldest.id OR c.conversation_key = ANY (orphan_keys))
      AND (oldest.received_at < cutoff
           OR (c.head_message_id IS NOT NULL AND cur.id IS NULL)
           OR cur.processed_at < cutoff
           OR c.conversation_key = ANY (orphan_keys))
    FOR UPDATE OF c SKIP LOCKED
  ) w;
  PERFORM wapipe._release_conversation_leases(wrong);  -- (held above, in key order)

  RETURN cardinality(orphans) + cardinality(wrong);
END
$$;
COMMENT ON FUNCTION wapipe.cleanup_stuck_webhook_conversations(interval) IS
  'Operators / pg_cron: re-queue processing messages whose conversation is not leased to their claimer, and re-point conversations whose head is missing, finished or not the oldest unfinished message, for anything older than stuck_after. Returns rows repaired.';
REVOKE ALL ON FUNCTION wapipe.cleanup_stuck_webhook_conversations(interval) FROM PUBLIC;
