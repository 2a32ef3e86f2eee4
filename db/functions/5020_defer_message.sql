-- wapipe._breaker_next_trial: when a breaker will next let a call through.
-- Returns opened_at + open_seconds for an open breaker; for a half-open one the time its
-- trial slots are freed at the latest (updated_at + open_seconds); NULL when closed or unknown.
CREATE OR REPLACE FUNCTION wapipe._breaker_next_trial(breaker text)
RETURNS timestamptz
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  b wapipe.breakers;
  open_interval interval;
BEGIN
  SELECT x.* INTO b FROM wapipe.breakers x WHERE x.name = breaker;
  IF NOT FOUND OR b.state = 'closed' THEN
    RETURN NULL;
  END IF;
  open_interval := make_interval(secs => coalesce(b.open_seconds,
                                                  wapipe._breaker_setting(b.kind, 'open_seconds')));
  RETURN CASE WHEN b.state = 'open' THEN b.opened_at + open_interval
              ELSE b.updated_at + open_interval END;
END
$$;
COMMENT ON FUNCTION wapipe._breaker_next_trial(text) IS
  'Private: when a breaker next admits a call (open: opened_at + open_seconds; half_open: when its trial slots are freed at the latest); NULL when closed or unknown.';
REVOKE ALL ON FUNCTION wapipe._breaker_next_trial(text) FROM PUBLIC;

-- wapipe._wake_deferred: a service is back: its deferred conversations may be claimed now.
-- Returns how many conversations it made claimable.
--
-- Called when a breaker closes (breaker_record) and when a health check finds an
-- endpoint healthy again (record_endpoint_health), so a short outage drains as soon
-- as the service is back, not at each message's deferral time. Nothing is woken
-- while the service's breaker is open and not yet due a trial (they would only be
-- deferred again). Rows another transaction holds are skipped (never a wait, never a
-- deadlock): they keep their own time. Walks conversations_deferred_idx: O(deferred).
CREATE OR REPLACE FUNCTION wapipe._wake_deferred(service text)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  woken integer;
BEGIN
  IF wapipe._breaker_next_trial(service) > now() THEN
    RETURN 0;
  END IF;
  WITH due AS (
    SELECT c.conversation_key, h.queue_msg_id
    FROM wapipe.conversations c
    JOIN wapipe.processed_messages h ON h.id = c.head_message_id
    WHERE c.deferred_until IS NOT NULL
      AND h.status = 'queued' AND h.waiting_for = _wake_deferred.service
    FOR UPDATE OF c SKIP LOCKED
  ), conv AS (
    UPDATE wapipe.conversations c
       SET deferred_until = NULL, available_at = now()
      FROM due d
     WHERE c.conversation_key = d.conversation_key
    RETURNING d.queue_msg_id
  ), visible AS MATERIALIZED (
    -- pgmq's vt follows (0020_queue_primitives): visible now
    SELECT wapipe._inbound_set_vt(ARRAY(SELECT v.queue_msg_id FROM conv v), now()) AS moved
  )
  SELECT count(*) INTO woken FROM conv CROSS JOIN visible;
  RETURN woken;
END
$$;
COMMENT ON FUNCTION wapipe._wake_deferred(text) IS
  'Private: make the conversations whose head waits for service claimable now (unless its breaker is open and not due); returns how many.';
REVOKE ALL ON FUNCTION wapipe._wake_deferred(text) FROM PUBLIC;

-- wapipe.defer_message: give a claimed message back because its service is unavailable, without spending an attempt.
-- Returns when it may be claimed again, or NULL when it waited too long and went to the dead letters.
--
-- For calls that never reached the service (its breaker is open, no endpoint is
-- healthy): the claim's attempt is given back (attempts counts real calls only),
-- deferrals counts the give-back, and the conversation waits, in order (its head
-- stays, its later messages wait behind it), out of the claim index until `until`:
-- by default the breaker's next trial (_breaker_next_trial), never earlier than a
-- second from now, never later than the end of the maximum wait. The maximum wait
-- (max_wait_seconds, else the retry.max_wait_seconds setting) counts from the first
-- deferral (deferred_since); a deferral past it dead-letters the message as
-- 'service_unavailable_too_long' through schedule_message_retry (one dead-letter
-- rule), replayable like any dead letter. A real failure later (schedule_message_retry)
-- spends an attempt as usual; a recovery of the service (_wake_deferred) ends the wait early.
CREATE OR REPLACE FUNCTION wapipe.defer_message(
  msg_id bigint, worker_id text, service text, until timestamptz DEFAULT NULL,
  reason text DEFAULT NULL, max_wait_seconds integer DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  msg       wapipe.processed_messages;
  wait_secs numeric;
  since     timestamptz;
  next_at   timestamptz;
BEGIN
  IF coalesce(btrim(defer_message.service), '') = '' THEN
    RAISE EXCEPTION 'service must be a non-empty text' USING ERRCODE = '22023';
  END IF;
  IF defer_message.max_wait_seconds IS NOT NULL AND defer_message.max_wait_seconds <= 0 THEN
    RAISE EXCEPTION 'max_wait_seconds must be positive, got %', defer_message.max_wait_seconds
      USING ERRCODE = '22023';
  END IF;

  msg := wapipe._claim_held(defer_message.msg_id, defer_message.worker_id);

  wait_secs := coalesce(defer_message.max_wait_seconds, wapipe._setting_num('retry.max_wait_seconds'));
  since := coalesce(msg.deferred_since, now());
  -- this claim was no call of the service: not an attempt
  UPDATE wapipe.processed_messages m
     SET attempts = greatest(m.attempts - 1, 0)
   WHERE m.id = msg.id;

  IF now() >= since + make_interval(secs => wait_secs::double precision) THEN
    RETURN wapipe.schedule_message_retry(
      defer_message.msg_id, defer_message.worker_id,
      format('service_unavailable_too_long: %s unavailable for %s s (max wait %s s); last: %s',
             defer_message.service, round(extract(epoch FROM now() - since)), wait_secs,
             coalesce(defer_message.reason, 'unavailable')),
      false);
  END IF;

  next_at := coalesce(defer_message.until, wapipe._breaker_next_trial(defer_message.service),
                      now() + make_interval(secs => wapipe._setting_num('retry.initial_delay_seconds')::double precision));
  next_at := least(next_at, since + make_interval(secs => wait_secs::double precision));
  next_at := greatest(next_at, now() + interval '1 second');

  UPDATE wapipe.processed_messages m
     SET status = 'queued', deferrals = m.deferrals + 1, deferred_since = since,
         waiting_for = defer_message.service, next_attempt_at = next_at,
         last_error = left(coalesce(defer_message.reason, 'service unavailable'), 2000)
   WHERE m.id = msg.id;
  PERFORM wapipe._release_conversation_lease(msg.conversation_key);
  UPDATE wapipe.conversations c SET deferred_until = next_at
   WHERE c.conversation_key = msg.conversation_key;
  PERFORM wapipe._inbound_set_vt(ARRAY[msg.queue_msg_id], next_at);
  RETURN next_at;
END
$$;
COMMENT ON FUNCTION wapipe.defer_message(bigint, text, text, timestamptz, text, integer) IS
  'Give back a message worker_id holds because service is unavailable (breaker open, no healthy endpoint) without spending an attempt: claimable again at until (default: the breaker''s next trial; at least 1 s, at most the end of the maximum wait) or earlier when the service recovers; conversation order kept. After max_wait_seconds (default setting retry.max_wait_seconds) since the first deferral it goes to the dead letters as service_unavailable_too_long (returns NULL). Raises WA001 when worker_id does not hold the claim, 22023 for bad arguments.';
REVOKE ALL ON FUNCTION wapipe.defer_message(bigint, text, text, timestamptz, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.defer_message(bigint, text, text, timestamptz, text, integer) TO wapipe_worker;
