-- Breaker helpers: record outcomes in bulk and move a breaker's clock back.

-- Record `successes` successful calls, then `failures` failed ones; returns the last state.
CREATE FUNCTION wapipe_tests.record_calls(breaker text, successes integer, failures integer)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text;
BEGIN
  FOR i IN 1..successes LOOP
    state := wapipe.breaker_record(breaker, true, 100, 'http://agent.test/reply');
  END LOOP;
  FOR i IN 1..failures LOOP
    state := wapipe.breaker_record(breaker, false, 100, 'http://agent.test/reply', 'HTTP 503');
  END LOOP;
  RETURN state;
END $$;

-- Pretend `seconds` have passed for a breaker: its timestamps and buckets move back.
CREATE FUNCTION wapipe_tests.age_breaker(breaker text, seconds integer)
RETURNS void LANGUAGE sql AS $$
  UPDATE wapipe.breakers b
     SET opened_at = b.opened_at - make_interval(secs => seconds),
         state_changed_at = b.state_changed_at - make_interval(secs => seconds),
         window_started_at = b.window_started_at - make_interval(secs => seconds),
         updated_at = b.updated_at - make_interval(secs => seconds)
   WHERE b.name = breaker;
  UPDATE wapipe.breaker_buckets bb
     SET bucket_at = bb.bucket_at - make_interval(secs => seconds)
   WHERE bb.name = breaker;
$$;

-- Open a breaker through its public API (min_calls failures) and move it `seconds` back.
CREATE FUNCTION wapipe_tests.open_breaker(breaker text, seconds integer DEFAULT 0)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  state text;
BEGIN
  PERFORM wapipe.breaker_allow(breaker);  -- creates an unknown breaker
  state := wapipe_tests.record_calls(breaker, 0,
    (SELECT coalesce(b.min_calls, wapipe._breaker_setting(b.kind, 'min_calls'))::integer
       FROM wapipe.breakers b WHERE b.name = breaker));
  IF state <> 'open' THEN
    RAISE EXCEPTION 'breaker % did not open (state %)', breaker, state;
  END IF;
  PERFORM wapipe_tests.age_breaker(breaker, seconds);
  RETURN state;
END $$;
