-- wapipe_tests helpers for conversation memory, workflows and rate limits.

-- Call check_rate_limit `times` times in a row (one call per loop turn, so a
-- set-returning query cannot fold the calls into one); returns each call's answer.
CREATE FUNCTION wapipe_tests.rate_limit_calls(
  key text, max_per_window integer, per interval, times integer)
RETURNS TABLE (n integer, allowed boolean, remaining integer, retry_after_ms integer)
LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..times LOOP
    n := i;
    SELECT r.allowed, r.remaining, r.retry_after_ms INTO allowed, remaining, retry_after_ms
    FROM wapipe.check_rate_limit(rate_limit_calls.key, max_per_window, per) r;
    RETURN NEXT;
  END LOOP;
END $$;
