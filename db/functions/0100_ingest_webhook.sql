-- wapipe.ingest_webhook: store one webhook POST and enqueue its new messages, in one transaction.
-- Returns one row: the event id and the counts of new messages, duplicates, statuses and errors.
--
-- Walks every entry, change, message and status (up to 1000 updates per POST).
-- Each message is deduplicated on its wamid (processed_messages, ON CONFLICT DO
-- NOTHING) and only new ones go to pgmq with the conversation as FIFO group and
-- the priority of its type; the conversation head index is kept current so a
-- claim never scans the backlog. Any message type is accepted (unknown types get
-- priority 0). A payload that is not a WhatsApp webhook raises SQLSTATE 22023
-- and stores nothing.
CREATE OR REPLACE FUNCTION wapipe.ingest_webhook(payload jsonb, correlation_id text DEFAULT NULL)
RETURNS TABLE (event_id bigint, new_messages integer, duplicates integer, statuses integer, errors integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  v_event_id   bigint;
  v_parsed     wapipe.inbound_message[];
  v_candidates wapipe.inbound_message[];
  v_lost_race  bigint[];
  v_total      integer;
  v_new_ids    bigint[];
  v_statuses   jsonb;
  v_errors     integer;
  v_bad        record;
  v_aging      interval;
  v_now        timestamptz := clock_timestamp();
BEGIN
  IF payload IS NULL OR jsonb_typeof(payload) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'not a WhatsApp webhook: the body must be a JSON object'
      USING ERRCODE = '22023';
  END IF;
  IF payload->>'object' IS DISTINCT FROM 'whatsapp_business_account' THEN
    RAISE EXCEPTION 'not a WhatsApp webhook: "object" must be "whatsapp_business_account", got %',
      coalesce(left(payload->>'object', 60), 'nothing')
      USING ERRCODE = '22023';
  END IF;
  IF jsonb_typeof(payload->'entry') IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'not a WhatsApp webhook: "entry" must be an array' USING ERRCODE = '22023';
  END IF;

  -- Flatten entry[].changes[].value.{messages,statuses,errors} once.
  WITH changes AS (
    SELECT e.ord AS entry_ord, ch.ord AS change_ord, ch.change->'value' AS value,
           -- wa_id -> contact, so matching a message to its sender is a key lookup
           (SELECT jsonb_object_agg(ct->>'wa_id', ct)
            FROM jsonb_array_elements(
              CASE WHEN jsonb_typeof(ch.change->'value'->'contacts') = 'array'
                   THEN ch.change->'value'->'contacts' ELSE '[]' END) ct
            WHERE ct->>'wa_id' IS NOT NULL) AS contact_map
    FROM jsonb_array_elements(payload->'entry') WITH ORDINALITY AS e(entry, ord)
    CROSS JOIN LATERAL jsonb_array_elements(
      CASE WHEN jsonb_typeof(e.entry->'changes') = 'array' THEN e.entry->'changes' ELSE '[]' END
    ) WITH ORDINALITY AS ch(change, ord)
    WHERE jsonb_typeof(ch.change->'value') = 'object'
  )
  SELECT
    coalesce(array_agg(ROW(
        m.msg->>'id', m.msg->>'from', coalesce(m.msg->>'type', 'unknown'),
        c.value->'metadata'->>'phone_number_id', c.value->'metadata'->>'display_phone_number',
        CASE WHEN m.msg->>'timestamp' ~ '^[0-9]{1,12}$' THEN (m.msg->>'timestamp')::bigint END,
        m.msg, c.contact_map -> (m.msg->>'from'),
        c.entry_ord - 1, c.change_ord - 1, m.ord - 1)::wapipe.inbound_message
      ORDER BY c.entry_ord, c.change_ord, m.ord) FILTER (WHERE m.msg IS NOT NULL), '{}'),
    (SELECT coalesce(jsonb_agg(jsonb_build_object(
        'status', s.st, 'phone_number_id', c2.value->'metadata'->>'phone_number_id',
        'position', jsonb_build_array(c2.entry_ord - 1, c2.change_ord - 1, s.ord - 1))), '[]')
     FROM changes c2
     CROSS JOIN LATERAL jsonb_array_elements(
       CASE WHEN jsonb_typeof(c2.value->'statuses') = 'array' THEN c2.value->'statuses' ELSE '[]' END
     ) WITH ORDINALITY AS s(st, ord)),
    (SELECT coalesce(sum(jsonb_array_length(c3.value->'errors')), 0)::integer
     FROM changes c3 WHERE jsonb_typeof(c3.value->'errors') = 'array')
  INTO v_parsed, v_statuses, v_errors
  FROM changes c
  LEFT JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(c.value->'messages') = 'array' THEN c.value->'messages' ELSE '[]' END
  ) WITH ORDINALITY AS m(msg, ord) ON true;

  v_statuses := coalesce(v_statuses, '[]');
  v_errors := coalesce(v_errors, 0);
  v_total := cardinality(v_parsed);

  -- Refuse shapes we cannot deduplicate or route, before storing anything.
  IF v_total > 0 THEN
    SELECT format('entry[%s].changes[%s].value.messages[%s]', p.entry_pos, p.change_pos,
                  p.message_pos) AS position INTO v_bad
    FROM unnest(v_parsed) p
    WHERE jsonb_typeof(p.payload) IS DISTINCT FROM 'object'
       OR coalesce(p.wamid, '') = '' OR coalesce(p.from_wa_id, '') = ''
       OR coalesce(p.phone_number_id, '') = ''
    LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION 'malformed message at %: a message needs an object with "id" and "from", and its change needs metadata.phone_number_id',
        v_bad.position USING ERRCODE = '22023';
    END IF;
  END IF;
  IF jsonb_array_length(v_statuses) > 0 THEN
    SELECT format('entry[%s].changes[%s].value.statuses[%s]', s->'position'->0, s->'position'->1,
                  s->'position'->2) AS position INTO v_bad
    FROM jsonb_array_elements(v_statuses) s
    WHERE jsonb_typeof(s->'status') IS DISTINCT FROM 'object'
       OR coalesce(s->'status'->>'id', '') = '' OR coalesce(s->'status'->>'status', '') = ''
    LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION 'malformed status at %: a status needs "id" and "status"', v_bad.position
        USING ERRCODE = '22023';
    END IF;
  END IF;

  -- The event row is written once, at the end, with its counts (an UPDATE would
  -- write the whole payload to the WAL a second time); its id is taken now.
  v_event_id := nextval(pg_catalog.pg_get_serial_sequence('wapipe.webhook_events', 'id'));

  -- Dedup: only wamids never seen before get a row and a queue entry. The queue
  -- entries are sent first so that each row is written once, with its msg_id
  -- (an UPDATE afterwards would rewrite every index of the row); a wamid that a
  -- concurrent POST stores in the meantime loses the ON CONFLICT race below and
  -- its queue entry is deleted again in this same transaction.
  v_candidates := '{}';
  IF v_total > 0 THEN
    SELECT coalesce(array_agg(ROW(p.wamid, p.from_wa_id, p.message_type, p.phone_number_id,
                                  p.display_phone_number, p.wa_ts, p.payload, p.contact,
                                  p.entry_pos, p.change_pos, p.message_pos)::wapipe.inbound_message
                              ORDER BY p.ord), '{}')
    INTO v_candidates
    FROM (SELECT DISTINCT ON (u.wamid) u.*
          FROM unnest(v_parsed) WITH ORDINALITY AS u(wamid, from_wa_id, message_type, phone_number_id,
                                                    display_phone_number, wa_ts, payload, contact,
                                                    entry_pos, change_pos, message_pos, ord)
          ORDER BY u.wamid, u.ord) p
    WHERE NOT EXISTS (SELECT 1 FROM wapipe.processed_messages pm WHERE pm.wamid = p.wamid);
  END IF;

  IF cardinality(v_candidates) > 0 THEN
    WITH candidates AS (
      SELECT c.*, coalesce(r.priority, 0)::smallint AS priority,
             c.phone_number_id || ':' || c.from_wa_id AS conversation_key
      FROM unnest(v_candidates) WITH ORDINALITY AS c(wamid, from_wa_id, message_type, phone_number_id,
                                                    display_phone_number, wa_ts, payload, contact,
                                                    entry_pos, change_pos, message_pos, pos)
      LEFT JOIN wapipe.priority_rules r ON r.message_type = c.message_type
    ), sent AS (
      -- pgmq.send_batch's own INSERT, written out: a static statement keeps its plan
      -- cached (send_batch builds it with EXECUTE on every call, through three
      -- PL/pgSQL calls). The queue entry references the stored message; its content
      -- lives once, in processed_messages, and get_next_queue_message returns it.
      INSERT INTO pgmq.q_wapipe_inbound AS q (vt, message, headers)
      SELECT v_now,
             jsonb_build_object('wamid', c.wamid, 'conversation_key', c.conversation_key,
                                'type', c.message_type),
             jsonb_build_object('x-pgmq-group', c.conversation_key, 'priority', c.priority,
                                'correlation_id', ingest_webhook.correlation_id)
      FROM candidates c
      ORDER BY c.pos
      RETURNING q.msg_id, q.message->>'wamid' AS wamid
    ), inserted AS (
      INSERT INTO wapipe.processed_messages AS pm (
        wamid, conversation_key, phone_number_id, display_phone_number, from_wa_id,
        message_type, payload, contact, wa_timestamp, priority, queue_msg_id,
        correlation_id, webhook_event_id)
      SELECT c.wamid, c.conversation_key, c.phone_number_id, c.display_phone_number,
             c.from_wa_id, c.message_type, c.payload, c.contact,
             coalesce(to_timestamp(c.wa_ts), now()), c.priority, s.msg_id,
             ingest_webhook.correlation_id, v_event_id
      FROM candidates c JOIN sent s USING (wamid)
      ORDER BY c.pos  -- ids follow the payload: the tie-break within one WhatsApp second
      ON CONFLICT (wamid) DO NOTHING
      RETURNING pm.id, pm.queue_msg_id
    )
    SELECT ARRAY(SELECT i.id FROM inserted i),
           ARRAY(SELECT s.msg_id FROM sent s
                 WHERE s.msg_id NOT IN (SELECT i.queue_msg_id FROM inserted i))
    INTO v_new_ids, v_lost_race;

    IF cardinality(v_lost_race) > 0 THEN
      PERFORM pgmq.delete('wapipe_inbound', v_lost_race);
    END IF;
  ELSE
    v_new_ids := '{}';
  END IF;

  IF cardinality(v_new_ids) > 0 THEN
    v_aging := make_interval(secs => wapipe._setting_num('claim.priority_aging_seconds'));
    -- Head index: a new conversation gets its first message as head; an idle one
    -- wakes up; an unclaimed one switches to an earlier message (Meta delivers
    -- concurrently, so a later message can arrive first). Usually nothing changes:
    -- the conversation already has an older head, and then it is only locked
    -- FOR KEY SHARE. That lock is shared between ingests (no queueing behind each
    -- other's commits) but makes a worker that frees the conversation (FOR UPDATE)
    -- wait for this commit, so its head refresh sees the new message. Keys in
    -- sorted order, so concurrent ingests never deadlock.
    INSERT INTO wapipe.conversations AS c (
      conversation_key, phone_number_id, wa_id, head_message_id, head_priority,
      head_wa_timestamp, head_received_at, head_rank, available_at, last_message_at)
    SELECT DISTINCT ON (m.conversation_key)
           m.conversation_key, m.phone_number_id, m.from_wa_id, m.id, m.priority,
           m.wa_timestamp, m.received_at, m.received_at - m.priority * v_aging, now(), now()
    FROM wapipe.processed_messages m
    WHERE m.id = ANY (v_new_ids)
    ORDER BY m.conversation_key, m.wa_timestamp, m.id
    ON CONFLICT (conversation_key) DO NOTHING;

    PERFORM 1
    FROM wapipe.conversations c
    WHERE c.conversation_key IN (SELECT m.conversation_key FROM wapipe.processed_messages m
                                 WHERE m.id = ANY (v_new_ids))
    ORDER BY c.conversation_key
    FOR KEY SHARE;

    UPDATE wapipe.conversations c
       SET head_message_id = f.id, head_priority = f.priority,
           head_wa_timestamp = f.wa_timestamp, head_received_at = f.received_at,
           head_rank = f.received_at - f.priority * v_aging,
           available_at = CASE WHEN c.head_message_id IS NULL THEN now() ELSE c.available_at END,
           last_message_at = now()
      FROM (SELECT DISTINCT ON (m.conversation_key) m.*
            FROM wapipe.processed_messages m
            WHERE m.id = ANY (v_new_ids)
            ORDER BY m.conversation_key, m.wa_timestamp, m.id) f
     WHERE c.conversation_key = f.conversation_key
       AND c.head_message_id IS DISTINCT FROM f.id
       AND (c.head_message_id IS NULL
            OR ((c.locked_by IS NULL OR c.locked_until <= now())
                AND (f.wa_timestamp, f.id) < (c.head_wa_timestamp, c.head_message_id)));
  END IF;

  -- Statuses of our outbound messages: keep the furthest one per wamid; never go back.
  IF jsonb_array_length(v_statuses) > 0 THEN
    INSERT INTO wapipe.message_statuses AS ms (
      wamid, phone_number_id, recipient_id, status, status_rank, status_at, errors,
      conversation, pricing, callback_data, webhook_event_id)
    SELECT DISTINCT ON (s.status->>'id')
           s.status->>'id', s.phone_number_id, s.status->>'recipient_id', s.status->>'status',
           wapipe._status_rank(s.status->>'status'),
           CASE WHEN s.status->>'timestamp' ~ '^[0-9]{1,12}$'
                THEN to_timestamp((s.status->>'timestamp')::bigint) END,
           s.status->'errors', s.status->'conversation', s.status->'pricing',
           s.status->>'biz_opaque_callback_data', v_event_id
    FROM jsonb_to_recordset(v_statuses) AS s(status jsonb, phone_number_id text)
    ORDER BY s.status->>'id', wapipe._status_rank(s.status->>'status') DESC,
             s.status->>'timestamp' DESC
    ON CONFLICT (wamid) DO UPDATE
      SET status = excluded.status, status_rank = excluded.status_rank,
          status_at = excluded.status_at,
          errors = coalesce(excluded.errors, ms.errors),
          conversation = coalesce(excluded.conversation, ms.conversation),
          pricing = coalesce(excluded.pricing, ms.pricing),
          recipient_id = coalesce(excluded.recipient_id, ms.recipient_id),
          callback_data = coalesce(excluded.callback_data, ms.callback_data),
          updated_at = now(), webhook_event_id = excluded.webhook_event_id
      WHERE excluded.status_rank > ms.status_rank;
  END IF;

  -- Account-level errors (value.errors).
  IF v_errors > 0 THEN
    INSERT INTO wapipe.webhook_errors (webhook_event_id, phone_number_id, code, title, message, details)
    SELECT v_event_id, ch.change->'value'->'metadata'->>'phone_number_id',
           CASE WHEN err->>'code' ~ '^-?[0-9]{1,9}$' THEN (err->>'code')::integer END,
           err->>'title', coalesce(err->>'message', err->'error_data'->>'details'), err
    FROM jsonb_array_elements(payload->'entry') e(entry)
    CROSS JOIN LATERAL jsonb_array_elements(
      CASE WHEN jsonb_typeof(e.entry->'changes') = 'array' THEN e.entry->'changes' ELSE '[]' END) ch(change)
    CROSS JOIN LATERAL jsonb_array_elements(
      CASE WHEN jsonb_typeof(ch.change->'value'->'errors') = 'array'
           THEN ch.change->'value'->'errors' ELSE '[]' END) err;
  END IF;

  INSERT INTO wapipe.webhook_events (
    id, correlation_id, payload, new_messages, duplicates, statuses, errors)
  OVERRIDING SYSTEM VALUE
  VALUES (v_event_id, ingest_webhook.correlation_id, ingest_webhook.payload,
          cardinality(v_new_ids), v_total - cardinality(v_new_ids),
          jsonb_array_length(v_statuses), v_errors);

  -- Wake the workers (LISTEN on pgmq's channel); they also poll, so a wake-up
  -- another concurrent ingest sends instead of this one costs little latency.
  -- wapipe._wake_workers written out (same lock key): a call of it costs more
  -- than the two statements.
  IF cardinality(v_new_ids) > 0 THEN
    IF pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('wapipe.wake_workers'), 0) THEN
      PERFORM pg_catalog.pg_notify('pgmq.q_wapipe_inbound.INSERT', NULL);
    END IF;
  END IF;

  RETURN QUERY SELECT v_event_id, cardinality(v_new_ids), v_total - cardinality(v_new_ids),
                      jsonb_array_length(v_statuses), v_errors;
END
$$;
COMMENT ON FUNCTION wapipe.ingest_webhook(jsonb, text) IS
  'Store a whole webhook POST in one transaction: raw event, deduplicated messages enqueued in pgmq by conversation and priority, statuses (never backwards) and value.errors. Returns (event_id, new_messages, duplicates, statuses, errors). Raises 22023 for a payload that is not a WhatsApp webhook.';

REVOKE ALL ON FUNCTION wapipe.ingest_webhook(jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.ingest_webhook(jsonb, text) TO wapipe_ingress;
