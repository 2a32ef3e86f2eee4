-- wapipe.check_rate_limit: take one token from the token bucket of `key`.
-- Returns one row: allowed, whole tokens remaining, retry_after_ms (wait for a token; 0 when allowed).
--
-- Capacity max_per_window, refilled continuously at max_per_window per `per`.
-- A new key starts full. The bucket row is locked for the read-modify-write,
-- so concurrent callers of one key never spend the same token. Time is the
-- wall clock (clock_timestamp), so a call inside a long transaction still sees
-- the refill; updated_at never moves backwards. Calling with another
-- max_per_window for the same key is allowed (tokens are capped to the new max).
-- Raises 22023 for an empty key, max_per_window < 1 or a non-positive `per`.
CREATE OR REPLACE FUNCTION wapipe.check_rate_limit(key text, max_per_window integer, per interval)
RETURNS TABLE (allowed boolean, remaining integer, retry_after_ms integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  per_seconds double precision := extract(epoch FROM per);
  tokens_per_second double precision;
  now_at timestamptz := clock_timestamp();
  bucket record;
  new_tokens double precision;
BEGIN
  IF coalesce(key, '') = '' THEN
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
  tokens_per_second := max_per_window / per_seconds;

  LOOP
    SELECT b.tokens, b.updated_at INTO bucket
    FROM wapipe.rate_limit_buckets b
    WHERE b.key = check_rate_limit.key
    FOR UPDATE;

    IF FOUND THEN
      EXIT;
    END IF;
    -- First call for this key: a full bucket minus this call's token.
    INSERT INTO wapipe.rate_limit_buckets AS b (key, tokens, updated_at)
    VALUES (check_rate_limit.key, max_per_window - 1, now_at)
    ON CONFLICT ON CONSTRAINT rate_limit_buckets_pkey DO NOTHING;
    IF FOUND THEN
      RETURN QUERY SELECT true, max_per_window - 1, 0;
      RETURN;
    END IF;
    -- A concurrent first call created it: lock it and go on from there.
  END LOOP;

  new_tokens := least(max_per_window::double precision,
                  bucket.tokens
                  + greatest(extract(epoch FROM now_at - bucket.updated_at), 0) * tokens_per_second);

  IF new_tokens >= 1 THEN
    new_tokens := new_tokens - 1;
    allowed := true;
    retry_after_ms := 0;
  ELSE
    allowed := false;
    retry_after_ms := least(ceil((1 - new_tokens) / tokens_per_second * 1000), 2147483647)::integer;
  END IF;
  remaining := floor(new_tokens)::integer;

  UPDATE wapipe.rate_limit_buckets b
     SET tokens = new_tokens,
         updated_at = greatest(b.updated_at, now_at)
   WHERE b.key = check_rate_limit.key;

  RETURN NEXT;
END
$$;
COMMENT ON FUNCTION wapipe.check_rate_limit(text, integer, interval) IS
  'Token bucket per key: capacity max_per_window, continuous refill of max_per_window per `per`, one token per call, atomic under concurrency. Returns (allowed, remaining, retry_after_ms; 0 when allowed). Raises 22023 for an empty key, max_per_window < 1 or per <= 0.';

REVOKE ALL ON FUNCTION wapipe.check_rate_limit(text, integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.check_rate_limit(text, integer, interval) TO wapipe_worker;
