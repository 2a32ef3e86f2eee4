-- Outbox helpers: insert rows to send, give a user an inbound message at a chosen time, move a row's clock.

-- Queue one reply directly in wapipe.outbox; returns its id.
CREATE FUNCTION wapipe_tests.outbox_row(
  to_wa_id text DEFAULT '250700000001', body jsonb DEFAULT '{"type": "text", "text": {"body": "hello"}}',
  phone_number_id text DEFAULT '300100200300400', source_key text DEFAULT NULL)
RETURNS bigint LANGUAGE sql AS $$
  INSERT INTO wapipe.outbox (source_key, phone_number_id, to_wa_id, body)
  VALUES (coalesce(source_key, 'test:' || gen_random_uuid()), phone_number_id, to_wa_id, body)
  RETURNING id
$$;

-- An inbound text from wa_id to the business number, `ago` before now (opens or ages the 24-hour window).
CREATE FUNCTION wapipe_tests.inbound_ago(
  wa_id text, ago interval, phone_number_id text DEFAULT '300100200300400')
RETURNS bigint LANGUAGE sql AS $$
  SELECT wapipe_tests.enqueue_text(wa_id, 'hi', NULL, phone_number_id,
                                   extract(epoch FROM now() - ago)::bigint)
$$;

-- Claim with lease 30 s; returns the claimed ids.
CREATE FUNCTION wapipe_tests.claim_outbox_ids(worker_id text DEFAULT 'sender-1', batch integer DEFAULT 20)
RETURNS SETOF bigint LANGUAGE sql AS $$
  SELECT c.id FROM wapipe.claim_outbox(worker_id, batch, 30) c
$$;

-- The sender starts the send of a claimed row (start_outbox_send with a bucket that always has a token).
CREATE FUNCTION wapipe_tests.start_send(outbox_id bigint, worker_id text DEFAULT 'sender-1')
RETURNS integer LANGUAGE sql AS $$
  SELECT wapipe.start_outbox_send(outbox_id, worker_id, 1000, interval '1 second')
$$;

-- Pretend the lease of a 'sending' row ended `ago` ago (its sender was killed), and its
-- next_attempt_at (the lease end, as a claim sets it) moved back with it.
CREATE FUNCTION wapipe_tests.expire_outbox_lease(outbox_id bigint, ago interval)
RETURNS void LANGUAGE sql AS $$
  UPDATE wapipe.outbox SET locked_until = now() - ago, next_attempt_at = now() - ago WHERE id = outbox_id
$$;

-- A status webhook from Meta for the message sent for an outbox row (biz_opaque_callback_data outbox:<id>).
CREATE FUNCTION wapipe_tests.outbox_status(outbox_id bigint, wamid text, status text DEFAULT 'sent')
RETURNS void LANGUAGE sql AS $$
  INSERT INTO wapipe.message_statuses (wamid, phone_number_id, status, status_rank, status_at, callback_data)
  VALUES (wamid, '300100200300400', status, CASE status WHEN 'sent' THEN 2 WHEN 'delivered' THEN 3 ELSE 4 END,
          now(), 'outbox:' || outbox_id)
$$;

-- End a retry backoff now.
CREATE FUNCTION wapipe_tests.outbox_due(outbox_id bigint) RETURNS void LANGUAGE sql AS $$
  UPDATE wapipe.outbox SET next_attempt_at = now() WHERE id = outbox_id
$$;
