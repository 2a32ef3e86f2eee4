-- wapipe.admit_typing_indicator: may the worker send read receipts + typing indicators
-- to this business number's users now, and how many? One round trip for a send's two checks.
-- Returns (verdict, granted, retry_after_ms): 'go' with granted tokens of the number's
-- send bucket taken (1 .. tokens), 'breaker_open' (the breaker is not closed: none
-- taken) or 'paced' (none free now; retry_after_ms until the next one).
--
-- The breaker is only read: typing never takes a half-open trial slot, which belongs to
-- the sends that decide whether the Graph API is back. The bucket is the sender's
-- (check_rate_limit('send:<phone_number_id>', max_per_window, per), see
-- start_outbox_send): Meta counts these calls against the number's throughput, so
-- they share its pacing, and the caller passes the sender's bucket parameters.
-- A worker takes a few tokens ahead (its reservoir, worker/typing_indicator.py) and
-- spends them on its next calls without a round trip: the tokens are taken by one
-- update of the bucket (_take_rate_tokens with `wanted`: the bucket rule stays in one
-- text), at most as many as it holds.
CREATE OR REPLACE FUNCTION wapipe.admit_typing_indicator(
  phone_number_id text, breaker text, max_per_window integer, per interval, tokens integer,
  OUT verdict text, OUT granted integer, OUT retry_after_ms integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  -- (the planner settings of the helpers it calls, which have none of their own)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
DECLARE
  state text;
  taken record;
BEGIN
  IF coalesce(admit_typing_indicator.phone_number_id, '') = '' THEN
    RAISE EXCEPTION 'admit_typing_indicator: phone_number_id must not be empty' USING ERRCODE = '22023';
  END IF;
  IF admit_typing_indicator.tokens IS NULL OR admit_typing_indicator.tokens < 1 THEN
    RAISE EXCEPTION 'admit_typing_indicator: tokens must be at least 1, got %',
      coalesce(admit_typing_indicator.tokens::text, 'NULL') USING ERRCODE = '22023';
  END IF;
  granted := 0;
  retry_after_ms := 0;
  SELECT b.state INTO state FROM wapipe.breakers b WHERE b.name = admit_typing_indicator.breaker;
  IF coalesce(state, 'closed') <> 'closed' THEN
    verdict := 'breaker_open';
    RETURN;
  END IF;
  -- one bucket update for all the tokens (the bucket rule takes up to `wanted` at once)
  SELECT r.granted, r.retry_after_ms AS wait_ms INTO taken
  FROM wapipe._take_rate_tokens(ARRAY['send:' || admit_typing_indicator.phone_number_id],
                                admit_typing_indicator.max_per_window, admit_typing_indicator.per,
                                admit_typing_indicator.tokens) r;
  IF taken.granted > 0 THEN
    verdict := 'go';
    granted := taken.granted;
  ELSE
    verdict := 'paced';
    retry_after_ms := taken.wait_ms;
  END IF;
END
$$;
COMMENT ON FUNCTION wapipe.admit_typing_indicator(text, text, integer, interval, integer) IS
  'Worker, before read receipt + typing indicator calls: (go, granted, 0) with 1..tokens tokens of the number''s send bucket '
  'taken (at most max_per_window; fewer when the bucket has fewer), (breaker_open, 0, 0) when the breaker is not closed '
  '(read only, no trial slot taken) or (paced, 0, retry_after_ms) when no token is free. '
  'Raises 22023 for an empty phone_number_id or tokens < 1 (and what check_rate_limit raises).';
REVOKE ALL ON FUNCTION wapipe.admit_typing_indicator(text, text, integer, interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.admit_typing_indicator(text, text, integer, interval, integer) TO wapipe_worker;
