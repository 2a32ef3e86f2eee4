-- wapipe_tests deferral helpers: claim and defer, and move a deferral's time (never sleep).

-- Claim the best head with worker_id and defer it for `service`; returns defer_message's value.
CREATE FUNCTION wapipe_tests.claim_and_defer(
  service text DEFAULT 'waiter', until timestamptz DEFAULT NULL, worker_id text DEFAULT 'worker-1',
  max_wait_seconds integer DEFAULT NULL)
RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
  claimed bigint;
BEGIN
  SELECT q.msg_id INTO claimed FROM wapipe.get_next_queue_message(worker_id, 30, 1) q;
  IF claimed IS NULL THEN
    RAISE EXCEPTION 'claim_and_defer: nothing to claim';
  END IF;
  RETURN wapipe.defer_message(claimed, worker_id, service, until,
                              'breaker_open: ' || service || ': circuit breaker open', max_wait_seconds);
END $$;

-- Pretend every deferral's time has come (conversations, messages, pgmq visibility).
CREATE FUNCTION wapipe_tests.pass_deferrals() RETURNS void LANGUAGE sql AS $$
  UPDATE wapipe.conversations SET deferred_until = now(), available_at = now()
   WHERE deferred_until > now();
  UPDATE wapipe.processed_messages SET next_attempt_at = now()
   WHERE status = 'queued' AND next_attempt_at > now();
  UPDATE pgmq.q_wapipe_inbound SET vt = now() WHERE vt > now();
$$;

-- Pretend the waits began `ago` earlier.
CREATE FUNCTION wapipe_tests.age_deferrals(ago interval) RETURNS void LANGUAGE sql AS $$
  UPDATE wapipe.processed_messages SET deferred_since = deferred_since - ago
   WHERE deferred_since IS NOT NULL;
$$;
