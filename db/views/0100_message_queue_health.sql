-- wapipe.message_queue_health: the inbound queue by priority (one row per priority
-- that has unfinished or dead messages, 9 = served first).
CREATE VIEW wapipe.message_queue_health AS
WITH unfinished AS (
  -- processed_messages_unfinished_idx covers exactly these rows (processed_at IS NULL
  -- = queued or processing).
  SELECT m.priority,
         count(*) FILTER (WHERE m.status = 'queued') AS queued,
         count(*) FILTER (WHERE m.status = 'processing') AS processing,
         count(*) FILTER (WHERE m.status = 'queued' AND m.attempts > 0 AND m.waiting_for IS NULL)
           AS retrying,
         min(m.received_at) FILTER (WHERE m.status = 'queued') AS oldest_queued_at
  FROM wapipe.processed_messages m
  WHERE m.processed_at IS NULL
  GROUP BY m.priority
), dead AS (
  -- Pending dead letters are few (dead_letters_pending_idx; their messages by primary
  -- key); a replayed message is no longer dead even if it has older dead-letter rows.
  SELECT m.priority, count(DISTINCT m.id) AS dead
  FROM wapipe.dead_letters d
  JOIN wapipe.processed_messages m ON m.id = d.message_id
  WHERE d.replayed_at IS NULL AND m.status = 'dead'
  GROUP BY m.priority
), in_pgmq AS (
  -- pgmq holds exactly the unfinished messages; a difference from queued +
  -- processing means the two got out of step.
  SELECT coalesce((q.headers->>'priority')::smallint, (q.message->>'priority')::smallint) AS priority,
         count(*) AS pgmq_depth,
         count(*) FILTER (WHERE q.vt <= now()) AS pgmq_visible
  FROM pgmq.q_wapipe_inbound q
  GROUP BY 1
), deferred AS (
  -- conversations waiting for an unavailable service (conversations_deferred_idx): the
  -- head's priority and service, counting the messages queued behind the head too
  SELECT w.priority, sum(w.n) AS deferred, jsonb_object_agg(w.service, w.n) AS by_service
  FROM (SELECT h.priority, h.waiting_for AS service, count(*) AS n
        FROM wapipe.conversations c
        JOIN wapipe.processed_messages h ON h.id = c.head_message_id
        JOIN wapipe.processed_messages m
          ON m.conversation_key = c.conversation_key AND m.processed_at IS NULL
        WHERE c.deferred_until IS NOT NULL AND h.status = 'queued' AND h.waiting_for IS NOT NULL
        GROUP BY h.priority, h.waiting_for) w
  GROUP BY w.priority
), priorities AS (
  SELECT u.priority FROM unfinished u
  UNION SELECT d.priority FROM dead d
  UNION SELECT q.priority FROM in_pgmq q
)
SELECT p.priority,
       coalesce(u.queued, 0) AS queued,
       coalesce(u.processing, 0) AS processing,
       coalesce(u.retrying, 0) AS retrying,
       coalesce(d.dead, 0) AS dead,
       coalesce(u.queued, 0) + coalesce(u.processing, 0) AS unfinished,
       coalesce(u.queued, 0) + coalesce(u.processing, 0) + coalesce(d.dead, 0) AS total,
       coalesce(q.pgmq_depth, 0) AS pgmq_depth,
       coalesce(q.pgmq_visible, 0) AS pgmq_visible,
       u.oldest_queued_at,
       now() - u.oldest_queued_at AS oldest_queued_age,
       coalesce(w.deferred, 0) AS deferred,
       coalesce(w.by_service, '{}') AS deferred_by_service
FROM priorities p
LEFT JOIN unfinished u ON u.priority = p.priority
LEFT JOIN dead d ON d.priority = p.priority
LEFT JOIN in_pgmq q ON q.priority IS NOT DISTINCT FROM p.priority
LEFT JOIN deferred w ON w.priority = p.priority
ORDER BY p.priority DESC NULLS LAST;

COMMENT ON VIEW wapipe.message_queue_health IS
  'Inbound queue by priority (9 first; one row per priority present). queued: waiting to be claimed '
  '(incl. backing off and waiting); processing: claimed by a worker; retrying: queued with attempts > 0, '
  'backing off after a failed call; dead: in the dead letters and not replayed; unfinished = queued + processing; total = unfinished + dead; '
  'pgmq_depth / pgmq_visible: rows in pgmq.q_wapipe_inbound and those with vt <= now() (should equal '
  'unfinished / be claimable); oldest_queued_at / oldest_queued_age: by received_at; deferred / '
  'deferred_by_service: messages of conversations waiting for an unavailable service (breaker open, no '
  'healthy endpoint; wapipe.defer_message), by the priority of the head, with the count per service.';
GRANT SELECT ON wapipe.message_queue_health TO wapipe_monitor;
