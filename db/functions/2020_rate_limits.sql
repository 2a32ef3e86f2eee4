-- wapipe._take_rate_tokens: take one token (up to `wanted`) from the token bucket of each key.
-- Returns one row per key: allowed, whole tokens remaining, retry_after_ms (wait for a token; 0 when allowed), granted (tokens taken).
--
-- THE token bucket rule, set-based. Capacity max_per_window, refilled continuously
-- at max_per_window per `per`. A new key starts full (and this call takes a token
-- from it). Bucket rows are created, then locked, in key order for the
-- read-modify-write, so concurrent callers never spend the same token nor deadlock.
-- Time is the wall clock (clock_timestamp), so a call inside a long transaction
-- still sees the refill; updated_at never moves backwards. Another max_per_window
-- for the same key is allowed (tokens are capped to the new max). Each key at most
-- once per call. `wanted` (default 1) takes up to that many whole tokens from each
-- bucket at once (fewer when it holds fewer; allowed = at least one), for callers that
-- take tokens ahead (the typing reservoir). Raises 22023 for an empty or NULL key,
-- max_per_window < 1, a non-positive `per` or wanted < 1.
CREATE OR REPLACE FUNCTION wapipe._take_rate_tokens(keys text[], max_per_window integer, per interval,
                                                    wanted integer DEFAULT 1)
RETURNS TABLE (key text, allowed boolean, remaining integer, retry_after_ms integer, granted integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  -- (no planner settings of its own: it plans under its callers', which all set them)
AS $$
#variable_conflict use_column
DECLARE
  per_seconds double precision := extract(epoch FROM per);
  now_at      timestamptz := clock_timestamp();
  created     text[];
BEGIN
  IF EXISTS (SELECT 1 FROM unnest(keys) k WHERE coalesce(k, '') = '') THEN
    RAISE EXCEPTION 'check_rate_limit: key must not be empty' USING ERRCODE = '22023';
  END IF;
  IF max_per_window IS NULL OR max_per_window < 1 THEN
    RAISE EXCEPTION 'check_rate_limit: max_per_window must be at least 1, got %',
      coalesce(max_per_window::text, 'NULL') USING ERRCODE = '22023';
  END IF;
  IF per_seconds IS NULL OR per_seconds <= 0 THEN
    RAISE EXCEPTION 'check_rate_limit: per must be a positive interval, got %',
      coalesce(per::text, 'NULL') USING ERRCODE = '22023';
  END IF;
  IF wanted IS NULL OR wanted < 1 THEN
    RAISE EXCEPTION 'check_rate_limit: wanted must be at least 1, got %',
      coalesce(wanted::text, 'NULL') USING ERRCODE = '22023';
  END IF;

  -- A new key starts full and this call takes one token (rows created in key order).
  WITH made AS (
    INSERT INTO wapipe.rate_limit_buckets AS b (key, tokens, updated_at)
    SELECT k, max_per_window - least(wanted, max_per_window), now_at
    FROM unnest(keys) k
    ORDER BY k
    ON CONFLICT ON CONSTRAINT rate_limit_buckets_pkey DO NOTHING
    RETURNING b.key)
  SELECT coalesce(array_agg(m.key), '{}') INTO created FROM made m;

  -- Known keys: locked in key order (a fresh snapshot sees keys others just created),
  -- refilled, and a token taken when there is one.
  RETURN QUERY
  WITH locked AS (
    SELECT b.key, b.tokens, b.updated_at
    FROM wapipe.rate_limit_buckets b
    WHERE b.key = ANY (keys) AND b.key <> ALL (created)
    ORDER BY b.key
    FOR UPDATE
  ), refilled AS (
    SELECT l.key,
           least(max_per_window::double precision,
                 l.tokens + greatest(extract(epoch FROM now_at - l.updated_at), 0)
                            * (max_per_window / per_seconds)) AS tokens
    FROM locked l
  ), granting AS (
    SELECT r.key, r.tokens, least(wanted, floor(r.tokens))::integer AS n FROM refilled r
  ), taken AS (
    UPDATE wapipe.rate_limit_buckets b
       SET tokens = g.tokens - g.n,
           updated_at = greatest(b.updated_at, now_at)
      FROM granting g
     WHERE b.key = g.key AND b.key = ANY (keys)
    RETURNING b.key, g.n >= 1 AS allowed, floor(g.tokens - g.n)::integer AS remaining,
              CASE WHEN g.n >= 1 THEN 0
                   ELSE least(ceil((1 - g.tokens) / (max_per_window / per_seconds) * 1000),
                              2147483647)::integer END AS retry_after_ms,
              g.n AS granted)
  SELECT t.key, t.allowed, t.remaining, t.retry_after_ms, t.granted FROM taken t
  UNION ALL
  SELECT c, true, max_per_window - least(wanted, max_per_window), 0, least(wanted, max_per_window)
  FROM unnest(created) c;
END
$$;
COMMENT ON FUNCTION wapipe._take_rate_tokens(text[], integer, interval, integer) IS
  'Private: the token bucket rule, set-based: one token (up to `wanted`) from the bucket of each key (capacity max_per_window, continuous refill of max_per_window per `per`, a new key full), rows created and locked in key order. Returns (key, allowed, remaining, retry_after_ms, granted). Raises 22023 for an empty key, max_per_window < 1, per <= 0 or wanted < 1.';
REVOKE ALL ON FUNCTION wapipe._take_rate_tokens(text[], integer, interval, integer) FROM PUBLIC;

-- wapipe.check_rate_limit: take one token from the token bucket of `key`.
-- Returns one row: allowed, whole tokens remaining, retry_after_ms (wait for a token; 0 when allowed).
--
-- _take_rate_tokens of one key (the token bucket rule and its refusals are there).
CREATE OR REPLACE FUNCTION wapipe.check_rate_limit(key text, max_per_window integer, per interval)
RETURNS TABLE (allowed boolean, remaining integer, retry_after_ms integer)
-- (plpgsql, not sql: PostgreSQL 15 plans a SECURITY DEFINER sql function's body again
-- in every statement that calls it; the sender calls this once per send)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  -- (the planner settings of the helpers it calls, which have none of their own)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  SELECT t.allowed, t.remaining, t.retry_after_ms
  FROM wapipe._take_rate_tokens(ARRAY[check_rate_limit.key], check_rate_limit.max_per_window,
                                check_rate_limit.per) t;
END
$$;
COMMENT ON FUNCTION wapipe.check_rate_limit(text, integer, interval) IS
  'Token bucket per key: capacity max_per_window, continuous refill of max_per_window per `per`, one token per call, atomic under concurrency. Returns (allowed, remaining, retry_after_ms; 0 when allowed). Raises 22023 for an empty key, max_per_window < 1 or per <= 0.';

REVOKE ALL ON FUNCTION wapipe.check_rate_limit(text, integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.check_rate_limit(text, integer, interval) TO wapipe_worker;
