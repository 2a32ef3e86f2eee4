-- wapipe_tests queue helpers: claim, fail and move time for the queue life-cycle tests.
-- Time moves by rewriting timestamps (leases, backoff, received_at), never by sleeping.

-- Claim with the default test worker; returns the claimed rows.
CREATE FUNCTION wapipe_tests.claim(worker_id text DEFAULT 'worker-1', batch integer DEFAULT 10)
RETURNS SETOF bigint LANGUAGE sql AS $$
  SELECT q.msg_id FROM wapipe.get_next_queue_message(worker_id, 30, batch) q
$$;

-- End every backoff now (conversations and pgmq visibility), as if the delay had passed.
CREATE FUNCTION wapipe_tests.skip_backoff() RETURNS void LANGUAGE sql AS $$
  UPDATE wapipe.conversations SET available_at = now() WHERE available_at > now();
  UPDATE pgmq.q_wapipe_inbound SET vt = now() WHERE vt > now();
$$;

-- Claim the best head and fail it with schedule_message_retry, n times, skipping each backoff.
-- Returns the value of the last schedule_message_retry (NULL once dead-lettered).
CREATE FUNCTION wapipe_tests.fail_n_times(
  n integer, worker_id text DEFAULT 'worker-1', error text DEFAULT 'agent timeout',
  retryable boolean DEFAULT true)
RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
  claimed bigint;
  result  timestamptz;
BEGIN
  FOR i IN 1..n LOOP
    PERFORM wapipe_tests.skip_backoff();
    SELECT q.msg_id INTO claimed FROM wapipe.get_next_queue_message(worker_id, 30, 1) q;
    IF claimed IS NULL THEN
      RAISE EXCEPTION 'fail_n_times: nothing to claim at round %', i;
    END IF;
    result := wapipe.schedule_message_retry(claimed, worker_id, error || ' #' || i, retryable);
  END LOOP;
  RETURN result;
END $$;

-- Make a lease look expired `ago` ago (default: just now).
CREATE FUNCTION wapipe_tests.expire_lease(conversation text, ago interval DEFAULT '1 second')
RETURNS void LANGUAGE sql AS $$
  UPDATE wapipe.conversations SET locked_until = now() - ago WHERE conversation_key = conversation;
  UPDATE pgmq.q_wapipe_inbound q SET vt = now() - ago
    FROM wapipe.conversations c JOIN wapipe.processed_messages m ON m.id = c.head_message_id
   WHERE c.conversation_key = conversation AND q.msg_id = m.queue_msg_id;
$$;

-- Pretend a message was received `ago` earlier (its head rank follows when it is a head:
-- recomputed by the one head rule, _release_conversation_lease; call it on a conversation
-- nobody holds, as a release would clear the lease).
CREATE FUNCTION wapipe_tests.age_message(message_id bigint, ago interval)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  conversation text;
BEGIN
  UPDATE wapipe.processed_messages m SET received_at = m.received_at - ago
   WHERE m.id = message_id RETURNING m.conversation_key INTO conversation;
  PERFORM wapipe._release_conversation_lease(conversation);
END $$;

-- The queue msg_id of a processed message.
CREATE FUNCTION wapipe_tests.msg_id_of(message_id bigint) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT m.queue_msg_id FROM wapipe.processed_messages m WHERE m.id = message_id
$$;

-- The conversation key of the default test number and a wa_id.
CREATE FUNCTION wapipe_tests.conv(wa_id text, phone_number_id text DEFAULT '300100200300400')
RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT phone_number_id || ':' || wa_id $$;

-- Ingest one message of the given type (priority comes from wapipe.priority_rules).
CREATE FUNCTION wapipe_tests.enqueue_type(from_wa_id text, message_type text, wa_timestamp bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  webhook jsonb := jsonb_set(wapipe_tests.text_payload(from_wa_id, 'x', NULL, '300100200300400', wa_timestamp),
                             '{entry,0,changes,0,value,messages,0,type}', to_jsonb(message_type));
BEGIN
  PERFORM wapipe.ingest_webhook(webhook, 'test');
  RETURN (SELECT m.id FROM wapipe.processed_messages m
          WHERE m.wamid = webhook #>> '{entry,0,changes,0,value,messages,0,id}');
END $$;

-- EXPLAIN (FORMAT JSON) of the candidate selection of get_next_queue_message (the same
-- query as in db/functions/4030_get_next_queue_message.sql; a plpgsql body cannot be explained).
CREATE FUNCTION wapipe_tests.explain_claim(batch integer) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  result json;
BEGIN
  EXECUTE format($q$
    EXPLAIN (FORMAT JSON)
    SELECT c.conversation_key, c.head_message_id, c.head_rank
    FROM wapipe.conversations c
    JOIN wapipe.processed_messages h
      ON h.id = c.head_message_id AND h.status IN ('queued', 'processing')
    WHERE c.head_message_id IS NOT NULL AND c.deferred_until IS NULL
      AND c.available_at <= now()
      AND (c.locked_by IS NULL OR c.locked_until <= now())
    ORDER BY c.head_rank
    LIMIT %s
    FOR UPDATE OF c SKIP LOCKED $q$, batch) INTO result;
  RETURN result::jsonb;
END $$;

-- `n` finished messages whose statistics say nothing is finished (analyzed before they
-- finished), then a conversation of two messages whose head worker-1 claims.
-- Returns the claimed msg_id. For tests of plans that must not walk finished messages.
CREATE FUNCTION wapipe_tests.claim_after_finished_backlog(n integer DEFAULT 300)
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  PERFORM wapipe_tests.enqueue_text('2507' || lpad(i::text, 8, '0'), 'hi', 'wamid.old.' || i)
  FROM generate_series(1, n) i;
  ANALYZE wapipe.processed_messages;
  PERFORM wapipe.complete_messages('worker-1', (
    SELECT jsonb_agg(jsonb_build_object('msg_id', q, 'reply', NULL))
    FROM wapipe_tests.claim('worker-1', n) q));
  PERFORM wapipe_tests.enqueue_text('250799999999', 'one', 'wamid.a');
  PERFORM wapipe_tests.enqueue_text('250799999999', 'two', 'wamid.b');
  RETURN (SELECT q FROM wapipe_tests.claim('worker-1') q);
END
$$;
