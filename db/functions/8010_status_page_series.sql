-- wapipe.status_page_series: per-minute traffic of the last `minutes` minutes (1-1440, default 60) for the status page.
-- Returns one row per minute, oldest first, the current minute last (partial): in / out / dead / failed attempts, queue depth at the minute's end, p95 processing ms.
--
-- messages_in: processed_messages received in the minute; messages_out: completed (done)
-- in the minute; dead_letters: dead_letters.dead_at in the minute; failed_attempts:
-- error_history entries of the minute (every failed attempt: the retried ones and the
-- last one of a dead letter); p95_ms: 95th percentile of processing_ms (claim to
-- complete) of the minute's completions, NULL without any.
-- queue_depth is derived rather than sampled: the unfinished messages now, plus those
-- finished after the minute's end, minus those received after it - exact except for
-- replayed dead letters, which count as unfinished since they were first received.
-- Unfinished is `processed_at IS NULL` (migration 0013's CHECK), so every row read
-- comes through an index: processed_messages_received_at_brin, the finished and the
-- unfinished partial indexes, dead_letters_dead_at_idx.
CREATE OR REPLACE FUNCTION wapipe.status_page_series(minutes integer DEFAULT 60)
RETURNS TABLE (
  minute timestamptz, messages_in bigint, messages_out bigint, dead_letters bigint,
  failed_attempts bigint, queue_depth bigint, p95_ms integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
AS $$
WITH bounds AS (
  SELECT date_trunc('minute', now())
           - make_interval(mins => least(greatest(coalesce(minutes, 60), 1), 1440) - 1) AS since
), grid AS (
  SELECT g AS minute
  FROM bounds b, generate_series(b.since, date_trunc('minute', now()), interval '1 minute') g
), received AS (
  SELECT date_trunc('minute', m.received_at) AS minute, count(*) AS n
  FROM wapipe.processed_messages m, bounds b
  WHERE m.received_at >= b.since
  GROUP BY 1
), finished AS (
  SELECT date_trunc('minute', m.processed_at) AS minute,
         count(*) AS n,
         count(*) FILTER (WHERE m.status = 'done') AS done,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY m.processing_ms)
           FILTER (WHERE m.status = 'done' AND m.processing_ms IS NOT NULL) AS p95
  FROM wapipe.processed_messages m, bounds b
  WHERE m.processed_at >= b.since
  GROUP BY 1
), dead AS (
  SELECT date_trunc('minute', d.dead_at) AS minute, count(*) AS n
  FROM wapipe.dead_letters d, bounds b
  WHERE d.dead_at >= b.since
  GROUP BY 1
), failures AS (
  -- a message that failed in the window is unfinished now or finished since
  SELECT date_trunc('minute', (e.value->>'at')::timestamptz) AS minute, count(*) AS n
  FROM (
    SELECT m.error_history FROM wapipe.processed_messages m
    WHERE m.processed_at IS NULL AND m.error_history <> '[]'
    UNION ALL
    SELECT m.error_history FROM wapipe.processed_messages m, bounds b
    WHERE m.processed_at >= b.since AND m.error_history <> '[]'
  ) h
  CROSS JOIN LATERAL jsonb_array_elements(h.error_history) e
  CROSS JOIN bounds b
  WHERE (e.value->>'at')::timestamptz >= b.since
  GROUP BY 1
), unfinished_now AS (
  SELECT count(*) AS n FROM wapipe.processed_messages m WHERE m.processed_at IS NULL
), per_minute AS (
  SELECT g.minute,
         coalesce(r.n, 0) AS messages_in,
         coalesce(f.done, 0) AS messages_out,
         coalesce(f.n, 0) AS finished,
         coalesce(d.n, 0) AS dead_letters,
         coalesce(x.n, 0) AS failed_attempts,
         f.p95
  FROM grid g
  LEFT JOIN received r ON r.minute = g.minute
  LEFT JOIN finished f ON f.minute = g.minute
  LEFT JOIN dead d ON d.minute = g.minute
  LEFT JOIN failures x ON x.minute = g.minute
)
SELECT p.minute,
       p.messages_in,
       p.messages_out,
       p.dead_letters,
       p.failed_attempts,
       greatest(0, u.n
         + coalesce(sum(p.finished - p.messages_in) OVER later, 0))::bigint AS queue_depth,
       round(p.p95)::integer AS p95_ms
FROM per_minute p CROSS JOIN unfinished_now u
WINDOW later AS (ORDER BY p.minute DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
ORDER BY p.minute;
$$;
COMMENT ON FUNCTION wapipe.status_page_series(integer) IS
  'Per-minute traffic of the last `minutes` minutes (clamped to 1-1440), oldest first, the current minute last: messages_in (received), messages_out (completed), dead_letters, failed_attempts (error_history entries), queue_depth (unfinished at the end of the minute, derived from now and the later minutes), p95_ms (processing_ms of the completions; NULL without any). For the ingress status page and wapipe_monitor.';
REVOKE ALL ON FUNCTION wapipe.status_page_series(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.status_page_series(integer) TO wapipe_monitor;
