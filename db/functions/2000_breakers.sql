-- Circuit breakers shared by every worker process: resilience4j's failure-rate model
-- (closed -> open -> half_open -> closed) with its state in wapipe.breakers and a
-- sliding window of per-second counts in wapipe.breaker_buckets.
--
-- Time base: now() (transaction start). Callers use autocommit calls, so now() is
-- the call time; tests move timestamps (opened_at, updated_at, bucket_at) instead
-- of sleeping.

-- wapipe._breaker_setting: one effective policy value for a breaker kind.
-- Returns breaker.<kind>.<key> from wapipe.settings, else breaker.default.<key>.
CREATE OR REPLACE FUNCTION wapipe._breaker_setting(breaker_kind text, policy_key text)
RETURNS numeric
-- (plpgsql, not sql: PostgreSQL 15 plans a SECURITY DEFINER sql function's body again
-- in every statement that calls it, and every breaker call reads a policy value)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  RETURN coalesce(
    (SELECT (s.value #>> '{}')::numeric FROM wapipe.settings s
      WHERE s.key = 'breaker.' || breaker_kind || '.' || policy_key),
    wapipe._setting_num('breaker.default.' || policy_key));
END
$$;
COMMENT ON FUNCTION wapipe._breaker_setting(text, text) IS
  'Private: effective breaker policy value for a kind (breaker.<kind>.<key>, else breaker.default.<key>).';
REVOKE ALL ON FUNCTION wapipe._breaker_setting(text, text) FROM PUBLIC;

-- wapipe.breaker_configure: create or change a breaker's kind and policy.
-- Returns nothing; a NULL policy argument means "from settings for this kind".
CREATE OR REPLACE FUNCTION wapipe.breaker_configure(
  name text,
  kind text DEFAULT 'default',
  failure_rate numeric DEFAULT NULL,
  open_seconds integer DEFAULT NULL,
  window_seconds integer DEFAULT NULL,
  min_calls integer DEFAULT NULL,
  half_open_calls integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  IF coalesce(breaker_configure.name, '') = '' THEN
    RAISE EXCEPTION 'breaker name must not be empty' USING ERRCODE = '22023';
  END IF;
  IF breaker_configure.kind IS NULL
     OR breaker_configure.kind NOT IN ('default', 'agent', 'payment', 'media') THEN
    RAISE EXCEPTION 'breaker kind must be one of default, agent, payment, media (got %)',
      coalesce(breaker_configure.kind, 'NULL') USING ERRCODE = '22023';
  END IF;
  IF breaker_configure.failure_rate IS NOT NULL
     AND NOT (breaker_configure.failure_rate > 0 AND breaker_configure.failure_rate <= 1) THEN
    RAISE EXCEPTION 'failure_rate is a fraction in (0, 1], e.g. 0.5 for 50 %% (got %)',
      breaker_configure.failure_rate USING ERRCODE = '22023';
  END IF;
  IF breaker_configure.open_seconds <= 0 OR breaker_configure.window_seconds <= 0
     OR breaker_configure.min_calls <= 0 OR breaker_configure.half_open_calls <= 0 THEN
    RAISE EXCEPTION 'open_seconds, window_seconds, min_calls and half_open_calls must be positive'
      USING ERRCODE = '22023';
  END IF;

  INSERT INTO wapipe.breakers AS b (
    name, kind, failure_rate, open_seconds, window_seconds, min_calls, half_open_calls)
  VALUES (breaker_configure.name, breaker_configure.kind, breaker_configure.failure_rate,
          breaker_configure.open_seconds, breaker_configure.window_seconds,
          breaker_configure.min_calls, breaker_configure.half_open_calls)
  ON CONFLICT ON CONSTRAINT breakers_pkey DO UPDATE
    SET kind            = excluded.kind,
        failure_rate    = excluded.failure_rate,
        open_seconds    = excluded.open_seconds,
        window_seconds  = excluded.window_seconds,
        min_calls       = excluded.min_calls,
        half_open_calls = excluded.half_open_calls,
        updated_at      = now();
END
$$;
COMMENT ON FUNCTION wapipe.breaker_configure(text, text, numeric, integer, integer, integer, integer) IS
  'Create or change a circuit breaker: kind (default/agent/payment/media) and policy overrides '
  '(failure_rate as a fraction, open_seconds, window_seconds, min_calls, half_open_calls); '
  'NULL = breaker.<kind>.* settings, else breaker.default.*. State is kept.';
REVOKE ALL ON FUNCTION wapipe.breaker_configure(text, text, numeric, integer, integer, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.breaker_configure(text, text, numeric, integer, integer, integer, integer) TO wapipe_worker;

-- wapipe.breaker_allow: may the caller make a call through this breaker now?
-- Returns 'closed' (allowed), 'half_open' (allowed as a trial call) or 'open' (refused).
--
-- Closed and open-not-yet-due are a plain read by primary key: no write, no row
-- lock, so busy workers never serialise here. Only the rare transitions (open ->
-- half_open, taking a trial slot) update the row; that single UPDATE re-checks its
-- WHERE on the latest row version when it waited for a concurrent one (READ
-- COMMITTED), so concurrent callers never get more than half_open_calls trials.
-- Trial slots whose outcome never came (worker died) are freed when half-open has
-- seen no outcome for open_seconds (updated_at is the last outcome or state change).
CREATE OR REPLACE FUNCTION wapipe.breaker_allow(name text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  b               wapipe.breakers;
  open_interval   interval;
  trial_limit     numeric;
  current_state   text;
BEGIN
  IF coalesce(breaker_allow.name, '') = '' THEN
    RAISE EXCEPTION 'breaker name must not be empty' USING ERRCODE = '22023';
  END IF;

  SELECT * INTO b FROM wapipe.breakers AS x WHERE x.name = breaker_allow.name;
  IF NOT FOUND THEN
    INSERT INTO wapipe.breakers (name) VALUES (breaker_allow.name)
    ON CONFLICT ON CONSTRAINT breakers_pkey DO NOTHING;
    RETURN 'closed';
  END IF;
  IF b.state = 'closed' THEN
    RETURN 'closed';
  END IF;

  open_interval := make_interval(secs => coalesce(b.open_seconds,
                                                  wapipe._breaker_setting(b.kind, 'open_seconds')));
  IF b.state = 'open' AND b.opened_at > now() - open_interval THEN
    RETURN 'open';
  END IF;
  trial_limit := coalesce(b.half_open_calls, wapipe._breaker_setting(b.kind, 'half_open_calls'));

  -- Open and due, or half-open: take a trial slot if one is free (or stale).
  UPDATE wapipe.breakers AS x
     SET state               = 'half_open',
         state_changed_at    = CASE WHEN x.state = 'open' THEN now() ELSE x.state_changed_at END,
         half_open_successes = CASE WHEN x.state = 'open' THEN 0 ELSE x.half_open_successes END,
         half_open_in_flight = CASE WHEN x.state = 'open' OR x.updated_at <= now() - open_interval
                                    THEN 1 ELSE x.half_open_in_flight + 1 END,
         updated_at          = CASE WHEN x.state = 'open' OR x.updated_at <= now() - open_interval
                                    THEN now() ELSE x.updated_at END
   WHERE x.name = breaker_allow.name
     AND ((x.state = 'open' AND x.opened_at <= now() - open_interval)
          OR (x.state = 'half_open'
              AND (x.updated_at <= now() - open_interval
                   OR x.half_open_in_flight + x.half_open_successes < trial_limit)))
  RETURNING x.state INTO current_state;
  IF FOUND THEN
    RETURN 'half_open';
  END IF;

  -- No slot: all trials taken, or a concurrent trial just closed or reopened it.
  SELECT x.state INTO current_state FROM wapipe.breakers AS x WHERE x.name = breaker_allow.name;
  RETURN CASE WHEN current_state = 'closed' THEN 'closed' ELSE 'open' END;
END
$$;
COMMENT ON FUNCTION wapipe.breaker_allow(text) IS
  'Circuit breaker gate shared by all workers: closed = call, half_open = call as one of '
  'half_open_calls trials, open = do not call. Unknown names are created (kind default). '
  'Closed is a lock-free read; open becomes half_open after open_seconds; trial slots with '
  'no outcome for open_seconds are freed.';
REVOKE ALL ON FUNCTION wapipe.breaker_allow(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.breaker_allow(text) TO wapipe_worker;

-- wapipe.breaker_record: record the outcome of one call made through a breaker.
-- Returns the breaker state after the call ('closed', 'open' or 'half_open').
--
-- Every call lands in its per-second bucket and in wapipe.service_calls. A success
-- while closed or open writes nothing else (no breaker row lock). A failure, or
-- any half-open outcome, locks the breaker row: closed trips to open when the
-- window (buckets since window_started_at and within window_seconds) holds at
-- least min_calls calls with failures/calls >= failure_rate; half_open closes
-- after half_open_calls successes (starting a fresh window) and reopens on any
-- failure. Locks are always taken bucket first, then breaker: no deadlocks.
CREATE OR REPLACE FUNCTION wapipe.breaker_record(
  name text, ok boolean, duration_ms integer, endpoint text DEFAULT NULL, error text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  b               wapipe.breakers;
  window_calls    bigint;
  window_failures bigint;
  trips           boolean;
  error_text      text := left(breaker_record.error, 2000);
BEGIN
  IF coalesce(breaker_record.name, '') = '' THEN
    RAISE EXCEPTION 'breaker name must not be empty' USING ERRCODE = '22023';
  END IF;
  IF breaker_record.ok IS NULL THEN
    RAISE EXCEPTION 'ok must be true or false' USING ERRCODE = '22023';
  END IF;
  IF breaker_record.duration_ms IS NULL OR breaker_record.duration_ms < 0 THEN
    RAISE EXCEPTION 'duration_ms must be >= 0 (got %)', coalesce(breaker_record.duration_ms::text, 'NULL')
      USING ERRCODE = '22023';
  END IF;
  IF NOT breaker_record.ok AND error_text IS NULL THEN
    error_text := 'failed';
  END IF;

  INSERT INTO wapipe.breaker_buckets AS bb (name, bucket_at, calls, failures)
  VALUES (breaker_record.name, date_trunc('second', now()), 1, CASE WHEN breaker_record.ok THEN 0 ELSE 1 END)
  ON CONFLICT ON CONSTRAINT breaker_buckets_pkey DO UPDATE
    SET calls = bb.calls + 1, failures = bb.failures + excluded.failures;

  INSERT INTO wapipe.service_calls (service, endpoint, ok, duration_ms, error)
  VALUES (breaker_record.name, breaker_record.endpoint, breaker_record.ok,
          breaker_record.duration_ms, CASE WHEN NOT breaker_record.ok THEN error_text END);

  SELECT * INTO b FROM wapipe.breakers AS x WHERE x.name = breaker_record.name;
  IF NOT FOUND THEN
    INSERT INTO wapipe.breakers (name) VALUES (breaker_record.name)
    ON CONFLICT ON CONSTRAINT breakers_pkey DO NOTHING;
    b.state := 'closed';
  END IF;
  IF breaker_record.ok AND b.state IN ('closed', 'open') THEN
    RETURN b.state;
  END IF;

  SELECT * INTO b FROM wapipe.breakers AS x WHERE x.name = breaker_record.name FOR UPDATE;

  IF b.state = 'half_open' AND breaker_record.ok THEN
    IF b.half_open_successes + 1
       >= coalesce(b.half_open_calls, wapipe._breaker_setting(b.kind, 'half_open_calls')) THEN
      UPDATE wapipe.breakers AS x
         SET state = 'closed', state_changed_at = now(), window_started_at = now(),
             half_open_in_flight = 0, half_open_successes = 0, updated_at = now()
       WHERE x.name = breaker_record.name;
      -- the messages deferred while it was open may go now (defer_message)
      PERFORM wapipe._wake_deferred(breaker_record.name);
      RETURN 'closed';
    END IF;
    UPDATE wapipe.breakers AS x
       SET half_open_successes = x.half_open_successes + 1,
           half_open_in_flight = greatest(x.half_open_in_flight - 1, 0),
           updated_at = now()
     WHERE x.name = breaker_record.name;
    RETURN 'half_open';
  END IF;

  IF b.state = 'closed' THEN
    SELECT coalesce(sum(bb.calls), 0), coalesce(sum(bb.failures), 0)
      INTO window_calls, window_failures
      FROM wapipe.breaker_buckets bb
     WHERE bb.name = breaker_record.name
       AND bb.bucket_at >= date_trunc('second', b.window_started_at)
       AND bb.bucket_at > now() - make_interval(secs => coalesce(
             b.window_seconds, wapipe._breaker_setting(b.kind, 'window_seconds')));
    trips := window_calls >= coalesce(b.min_calls, wapipe._breaker_setting(b.kind, 'min_calls'))
             AND window_failures >= window_calls
                 * coalesce(b.failure_rate, wapipe._breaker_setting(b.kind, 'failure_rate'));
  ELSE
    -- A failed trial reopens; a failure while open only updates the last error.
    trips := b.state = 'half_open';
  END IF;

  UPDATE wapipe.breakers AS x
     SET last_error = error_text,
         last_failure_at = now(),
         updated_at = now(),
         state = CASE WHEN trips THEN 'open' ELSE x.state END,
         state_changed_at = CASE WHEN trips THEN now() ELSE x.state_changed_at END,
         opened_at = CASE WHEN trips THEN now() ELSE x.opened_at END,
         times_opened = x.times_opened + CASE WHEN trips THEN 1 ELSE 0 END,
         half_open_in_flight = CASE WHEN trips THEN 0 ELSE x.half_open_in_flight END,
         half_open_successes = CASE WHEN trips THEN 0 ELSE x.half_open_successes END
   WHERE x.name = breaker_record.name
  RETURNING x.state INTO b.state;
  RETURN b.state;
END
$$;
COMMENT ON FUNCTION wapipe.breaker_record(text, boolean, integer, text, text) IS
  'Record one call''s outcome through a circuit breaker (per-second bucket + service_calls row); '
  'closed opens at >= min_calls calls and failures/calls >= failure_rate in the window; '
  'half_open closes after half_open_calls successes (fresh window) or reopens on a failure. '
  'Returns the state after the call.';
REVOKE ALL ON FUNCTION wapipe.breaker_record(text, boolean, integer, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.breaker_record(text, boolean, integer, text, text) TO wapipe_worker;

-- wapipe.breaker_record_successes: record many successful calls through one breaker at once.
-- Returns the breaker state afterwards ('closed', 'open' or 'half_open').
--
-- The same as breaker_record(name, true, d, endpoint) for each d of durations_ms
-- in order, written as one bucket update and one service_calls insert while the
-- breaker is closed or open (a success then writes nothing else). While it is
-- half-open every success is a trial outcome that may close it: then the calls
-- are recorded one by one through breaker_record. A worker sends the successes of
-- calls made while closed here, about once a second, instead of one transaction
-- per call on the breaker's hot bucket row.
CREATE OR REPLACE FUNCTION wapipe.breaker_record_successes(
  name text, durations_ms integer[], endpoint text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  current_state text;
  n             integer := coalesce(cardinality(durations_ms), 0);
BEGIN
  IF coalesce(breaker_record_successes.name, '') = '' THEN
    RAISE EXCEPTION 'breaker name must not be empty' USING ERRCODE = '22023';
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(durations_ms) d WHERE d IS NULL OR d < 0) THEN
    RAISE EXCEPTION 'duration_ms must be >= 0 (got %)',
      (SELECT coalesce(d::text, 'NULL') FROM unnest(durations_ms) d WHERE d IS NULL OR d < 0 LIMIT 1)
      USING ERRCODE = '22023';
  END IF;

  SELECT x.state INTO current_state FROM wapipe.breakers AS x WHERE x.name = breaker_record_successes.name;
  IF current_state = 'half_open' THEN
    SELECT count(wapipe.breaker_record(breaker_record_successes.name, true, d.ms,
                                       breaker_record_successes.endpoint, NULL))
      INTO n
    FROM unnest(durations_ms) WITH ORDINALITY AS d(ms, i);
    SELECT x.state INTO current_state FROM wapipe.breakers AS x WHERE x.name = breaker_record_successes.name;
    RETURN current_state;
  END IF;
  IF n = 0 THEN
    RETURN coalesce(current_state, 'closed');
  END IF;

  INSERT INTO wapipe.breaker_buckets AS bb (name, bucket_at, calls, failures)
  VALUES (breaker_record_successes.name, date_trunc('second', now()), n, 0)
  ON CONFLICT ON CONSTRAINT breaker_buckets_pkey DO UPDATE SET calls = bb.calls + excluded.calls;

  INSERT INTO wapipe.service_calls (service, endpoint, ok, duration_ms)
  SELECT breaker_record_successes.name, breaker_record_successes.endpoint, true, d.ms
  FROM unnest(durations_ms) WITH ORDINALITY AS d(ms, i)
  ORDER BY d.i;

  IF current_state IS NULL THEN
    INSERT INTO wapipe.breakers (name) VALUES (breaker_record_successes.name)
    ON CONFLICT ON CONSTRAINT breakers_pkey DO NOTHING;
    current_state := 'closed';
  END IF;
  RETURN current_state;
END
$$;
COMMENT ON FUNCTION wapipe.breaker_record_successes(text, integer[], text) IS
  'Record successful calls through a breaker (durations_ms, one service_calls row each) as breaker_record(name, true, d, endpoint) would one by one: one bucket update and one insert while closed or open, call by call while half-open (trials may close it). Returns the state afterwards. Raises 22023 for an empty name or a negative duration.';
REVOKE ALL ON FUNCTION wapipe.breaker_record_successes(text, integer[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.breaker_record_successes(text, integer[], text) TO wapipe_worker;

-- wapipe.cleanup_breaker_history: trim breaker buckets outside their breaker's window.
-- Returns how many buckets it deleted. (service_calls is partitioned by day:
-- maintain_partitions drops its days past retention.service_calls_days.)
CREATE OR REPLACE FUNCTION wapipe.cleanup_breaker_history()
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  buckets_deleted integer;
BEGIN
  DELETE FROM wapipe.breaker_buckets bb
   WHERE bb.bucket_at < now() - make_interval(secs => coalesce(
           (SELECT coalesce(b.window_seconds, wapipe._breaker_setting(b.kind, 'window_seconds'))
              FROM wapipe.breakers b WHERE b.name = bb.name),
           0));
  GET DIAGNOSTICS buckets_deleted = ROW_COUNT;
  RETURN buckets_deleted;
END
$$;
COMMENT ON FUNCTION wapipe.cleanup_breaker_history() IS
  'Retention for breakers: deletes breaker_buckets older than their breaker''s window; returns rows deleted. '
  'Run hourly by pg_cron. (service_calls days are dropped by maintain_partitions.)';
REVOKE ALL ON FUNCTION wapipe.cleanup_breaker_history() FROM PUBLIC;
