-- wapipe.ingest_webhooks: store several webhook POSTs and enqueue their new messages, in one transaction.
-- Returns one row per payload (ord = 1-based position in payloads): event id and the counts.
--
-- The set-based core of ingest_webhook (which calls it with one payload): the
-- ingress groups the POSTs that arrive while a call is running into the next
-- call, so a burst shares one commit. Each payload is kept as its own raw event;
-- every entry, change, message and status is walked (up to 1000 updates per POST).
-- Each message is deduplicated on its wamid (processed_messages, ON CONFLICT DO
-- NOTHING); only new ones go to pgmq with the conversation as FIFO group and the
-- priority of its type, and the conversation head index is kept current so a
-- claim never scans the backlog. Any message type is accepted (unknown types get
-- priority 0). If any payload is not a WhatsApp webhook, SQLSTATE 22023 names it
-- and nothing at all is stored (the caller retries the others one by one).
CREATE OR REPLACE FUNCTION wapipe.ingest_webhooks(payloads jsonb[], correlation_ids text[] DEFAULT NULL)
RETURNS TABLE (ord integer, event_id bigint, new_messages integer, duplicates integer,
               statuses integer, errors integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
-- One plan per statement for the session (a custom plan per call cost more to make
-- than to run), and never a scan or hash of a whole table: every lookup here is a
-- key probe. Statistics cannot mislead it, not even on a new install whose tables
-- autovacuum has not analysed yet (a plan made then would scan processed_messages
-- on every call until the next analyse).
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
DECLARE
  v_n          integer := coalesce(cardinality(payloads), 0);
  v_where      text := '';
  v_bad        record;
  v_parsed     wapipe.inbound_message[];
  v_statuses   jsonb;
  v_errors     integer[];
  v_error_total integer;
  v_status_total integer;
  v_bad_at     bigint[];
  v_status_ct  integer[];
  v_event_ids  bigint[];
  v_new        integer[];
  v_new_events bigint[];
  v_msg        wapipe.inbound_message;
  v_value      jsonb;
  v_m          jsonb;
  v_simple     boolean;
  v_events_written boolean := false;
  v_totals     integer[];
  v_now        timestamptz := clock_timestamp();  -- the queue entries' vt, as pgmq.send sets it
BEGIN
  IF v_n = 0 THEN
    RETURN;
  END IF;
  IF correlation_ids IS NOT NULL AND cardinality(correlation_ids) <> v_n THEN
    RAISE EXCEPTION 'ingest_webhooks: % correlation ids for % payloads', cardinality(correlation_ids), v_n
      USING ERRCODE = '22023';
  END IF;

  -- The envelope of every payload first: the cheapest refusal (for one good
  -- payload, plain expressions: no query to run).
  IF v_n > 1 OR payloads[1] IS NULL OR jsonb_typeof(payloads[1]) IS DISTINCT FROM 'object'
     OR payloads[1]->>'object' IS DISTINCT FROM 'whatsapp_business_account'
     OR jsonb_typeof(payloads[1]->'entry') IS DISTINCT FROM 'array' THEN
    SELECT p.i, CASE
             WHEN p.body IS NULL OR jsonb_typeof(p.body) IS DISTINCT FROM 'object'
               THEN 'not a WhatsApp webhook: the body must be a JSON object'
             WHEN p.body->>'object' IS DISTINCT FROM 'whatsapp_business_account'
               THEN format('not a WhatsApp webhook: "object" must be "whatsapp_business_account", got %s',
                           coalesce(left(p.body->>'object', 60), 'nothing'))
             ELSE 'not a WhatsApp webhook: "entry" must be an array' END AS reason
    INTO v_bad
    FROM unnest(payloads) WITH ORDINALITY AS p(body, i)
    WHERE p.body IS NULL OR jsonb_typeof(p.body) IS DISTINCT FROM 'object'
       OR p.body->>'object' IS DISTINCT FROM 'whatsapp_business_account'
       OR jsonb_typeof(p.body->'entry') IS DISTINCT FROM 'array'
    ORDER BY p.i
    LIMIT 1;
    IF FOUND THEN
      IF v_n > 1 THEN
        v_bad.reason := format('payload %s: %s', v_bad.i, v_bad.reason);
      END IF;
      RAISE EXCEPTION '%', v_bad.reason USING ERRCODE = '22023';
    END IF;
  END IF;

  -- The usual POST is one entry, one change, one message, at most one contact and
  -- nothing else: read it with plain expressions (no query to run); anything else
  -- goes through the general walk below, which gives the same result for it.
  v_value := payloads[1]->'entry'->0->'changes'->0->'value';
  v_simple := coalesce(v_n = 1
    AND CASE WHEN jsonb_typeof(payloads[1]->'entry') = 'array'
             THEN jsonb_array_length(payloads[1]->'entry') = 1 ELSE false END
    AND CASE WHEN jsonb_typeof(payloads[1]->'entry'->0->'changes') = 'array'
             THEN jsonb_array_length(payloads[1]->'entry'->0->'changes') = 1 ELSE false END
    AND jsonb_typeof(v_value) = 'object'
    AND CASE WHEN jsonb_typeof(v_value->'messages') = 'array'
             THEN jsonb_array_length(v_value->'messages') = 1 ELSE false END
    AND v_value->'statuses' IS NULL AND v_value->'errors' IS NULL
    AND CASE WHEN jsonb_typeof(v_value->'contacts') = 'array'
             THEN jsonb_array_length(v_value->'contacts') <= 1 ELSE true END, false);
  IF v_simple THEN
    v_m := v_value->'messages'->0;
    v_parsed := ARRAY[ROW(
      v_m->>'id', v_m->>'from', coalesce(v_m->>'type', 'unknown'),
      v_value->'metadata'->>'phone_number_id', v_value->'metadata'->>'display_phone_number',
      CASE WHEN v_m->>'timestamp' ~ '^[0-9]{1,12}$' THEN (v_m->>'timestamp')::bigint END,
      v_m,
      CASE WHEN v_value->'contacts'->0->>'wa_id' = v_m->>'from' THEN v_value->'contacts'->0 END,
      0, 0, 0, 1)::wapipe.inbound_message];
    v_bad_at := CASE WHEN jsonb_typeof(v_m) IS DISTINCT FROM 'object'
                       OR coalesce(v_m->>'id', '') = '' OR coalesce(v_m->>'from', '') = ''
                       OR coalesce(v_value->'metadata'->>'phone_number_id', '') = ''
                     THEN ARRAY[1, 0, 0, 0]::bigint[] END;
    v_status_total := 0;
    v_error_total := 0;
  ELSE
    -- Flatten payloads[].entry[].changes[].value.messages once, noting the first
    -- malformed message and how many statuses and errors there are (those are
    -- walked only when present: most POSTs carry one message and nothing else).
    WITH changes AS MATERIALIZED (  -- materialized: each contact map is built once
      SELECT p.payload_ord, e.entry_ord, ch.change_ord, ch.change->'value' AS value,
             -- wa_id -> contact, built only for a change with several contacts
             CASE WHEN jsonb_typeof(ch.change->'value'->'contacts') = 'array' THEN
               CASE WHEN jsonb_array_length(ch.change->'value'->'contacts') > 1 THEN
                 (SELECT jsonb_object_agg(ct->>'wa_id', ct)
                  FROM jsonb_array_elements(ch.change->'value'->'contacts') ct
                  WHERE ct->>'wa_id' IS NOT NULL) END END AS contact_map
      FROM unnest(payloads) WITH ORDINALITY AS p(body, payload_ord)
      CROSS JOIN LATERAL jsonb_array_elements(p.body->'entry') WITH ORDINALITY AS e(entry, entry_ord)
      CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(e.entry->'changes') = 'array' THEN e.entry->'changes' ELSE '[]' END
      ) WITH ORDINALITY AS ch(change, change_ord)
      WHERE jsonb_typeof(ch.change->'value') = 'object'
    )
    SELECT
      coalesce(array_agg(ROW(
          m.msg->>'id', m.msg->>'from', coalesce(m.msg->>'type', 'unknown'),
          c.value->'metadata'->>'phone_number_id', c.value->'metadata'->>'display_phone_number',
          CASE WHEN m.msg->>'timestamp' ~ '^[0-9]{1,12}$' THEN (m.msg->>'timestamp')::bigint END,
          m.msg,
          -- the sender's contacts[] entry: nearly always the first and only one
          CASE WHEN c.value->'contacts'->0->>'wa_id' = m.msg->>'from' THEN c.value->'contacts'->0
               ELSE c.contact_map -> (m.msg->>'from') END,
          c.entry_ord - 1, c.change_ord - 1, m.ord - 1, c.payload_ord)::wapipe.inbound_message
        ORDER BY c.payload_ord, c.entry_ord, c.change_ord, m.ord) FILTER (WHERE m.msg IS NOT NULL), '{}'),
      min(ARRAY[c.payload_ord, c.entry_ord - 1, c.change_ord - 1, m.ord - 1])
        FILTER (WHERE m.msg IS NOT NULL
                  AND (jsonb_typeof(m.msg) IS DISTINCT FROM 'object'
                       OR coalesce(m.msg->>'id', '') = '' OR coalesce(m.msg->>'from', '') = ''
                       OR coalesce(c.value->'metadata'->>'phone_number_id', '') = '')),
      -- one row per change has m.ord 1 or no message at all: count its arrays once
      coalesce(sum(jsonb_array_length(c.value->'statuses'))
        FILTER (WHERE coalesce(m.ord, 1) = 1 AND jsonb_typeof(c.value->'statuses') = 'array'), 0),
      coalesce(sum(jsonb_array_length(c.value->'errors'))
        FILTER (WHERE coalesce(m.ord, 1) = 1 AND jsonb_typeof(c.value->'errors') = 'array'), 0)
    INTO v_parsed, v_bad_at, v_status_total, v_error_total
    FROM changes c
    LEFT JOIN LATERAL jsonb_array_elements(
      CASE WHEN jsonb_typeof(c.value->'messages') = 'array' THEN c.value->'messages' ELSE '[]' END
    ) WITH ORDINALITY AS m(msg, ord) ON true;
  END IF;

  -- Refuse shapes we cannot deduplicate or route, before storing anything.
  IF v_bad_at IS NOT NULL THEN
    IF v_n > 1 THEN
      v_where := format('payload %s: ', v_bad_at[1]);
    END IF;
    RAISE EXCEPTION '%malformed message at entry[%].changes[%].value.messages[%]: a message needs an object with "id" and "from", and its change needs metadata.phone_number_id',
      v_where, v_bad_at[2], v_bad_at[3], v_bad_at[4] USING ERRCODE = '22023';
  END IF;
  v_statuses := '[]';
  IF v_status_total > 0 THEN
    SELECT coalesce(jsonb_agg(jsonb_build_object(
             'status', s.st, 'phone_number_id', ch.change->'value'->'metadata'->>'phone_number_id',
             'payload', p.i,
             'position', jsonb_build_array(e.ord - 1, ch.ord - 1, s.ord - 1))), '[]')
    INTO v_statuses
    FROM unnest(payloads) WITH ORDINALITY AS p(body, i)
    CROSS JOIN LATERAL jsonb_array_elements(p.body->'entry') WITH ORDINALITY AS e(entry, ord)
    CROSS JOIN LATERAL jsonb_array_elements(
      CASE WHEN jsonb_typeof(e.entry->'changes') = 'array' THEN e.entry->'changes' ELSE '[]' END
    ) WITH ORDINALITY AS ch(change, ord)
    CROSS JOIN LATERAL jsonb_array_elements(
      CASE WHEN jsonb_typeof(ch.change->'value') = 'object'
            AND jsonb_typeof(ch.change->'value'->'statuses') = 'array'
           THEN ch.change->'value'->'statuses' ELSE '[]' END
    ) WITH ORDINALITY AS s(st, ord);

    SELECT (s->>'payload')::integer AS i,
           format('entry[%s].changes[%s].value.statuses[%s]', s->'position'->0, s->'position'->1,
                  s->'position'->2) AS position
    INTO v_bad
    FROM jsonb_array_elements(v_statuses) s
    WHERE jsonb_typeof(s->'status') IS DISTINCT FROM 'object'
       OR coalesce(s->'status'->>'id', '') = '' OR coalesce(s->'status'->>'status', '') = ''
    LIMIT 1;
    IF FOUND THEN
      IF v_n > 1 THEN
        v_where := format('payload %s: ', v_bad.i);
      END IF;
      RAISE EXCEPTION '%malformed status at %: a status needs "id" and "status"', v_where, v_bad.position
        USING ERRCODE = '22023';
    END IF;
  END IF;

  -- Event ids now, so every row below can reference its POST's event.
  IF v_n = 1 THEN  -- the usual call: plain expressions, no query to run
    v_event_ids := ARRAY[nextval('wapipe.webhook_events_id_seq'::regclass)];
    v_totals := ARRAY[cardinality(v_parsed)];
  ELSE
    SELECT array_agg(nextval('wapipe.webhook_events_id_seq'::regclass)) INTO v_event_ids
    FROM generate_series(1, v_n);
    SELECT array_agg((SELECT count(*) FROM unnest(v_parsed) p WHERE p.payload_ord = g.i)::integer
                     ORDER BY g.i)
    INTO v_totals
    FROM generate_series(1, v_n) g(i);
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
           s.status->>'biz_opaque_callback_data', v_event_ids[s.payload]
    FROM jsonb_to_recordset(v_statuses) AS s(status jsonb, phone_number_id text, payload integer)
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
  IF v_n = 1 THEN
    v_status_ct := ARRAY[jsonb_array_length(v_statuses)];
  ELSE
    SELECT array_agg(coalesce(k.n, 0)::integer ORDER BY g.i) INTO v_status_ct
    FROM generate_series(1, v_n) g(i)
    LEFT JOIN (SELECT (s->>'payload')::integer AS i, count(*) AS n
               FROM jsonb_array_elements(v_statuses) s GROUP BY 1) k ON k.i = g.i;
  END IF;

  -- Account-level errors (value.errors), one row each.
  v_errors := array_fill(0, ARRAY[v_n]);
  IF v_error_total > 0 THEN
    WITH stored AS (
      INSERT INTO wapipe.webhook_errors (webhook_event_id, phone_number_id, code, title, message, details)
      SELECT v_event_ids[p.i], ch.change->'value'->'metadata'->>'phone_number_id',
             CASE WHEN err->>'code' ~ '^-?[0-9]{1,9}$' THEN (err->>'code')::integer END,
             err->>'title', coalesce(err->>'message', err->'error_data'->>'details'), err
      FROM unnest(payloads) WITH ORDINALITY AS p(body, i)
      CROSS JOIN LATERAL jsonb_array_elements(p.body->'entry') e(entry)
      CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(e.entry->'changes') = 'array' THEN e.entry->'changes' ELSE '[]' END) ch(change)
      CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(ch.change->'value'->'errors') = 'array'
             THEN ch.change->'value'->'errors' ELSE '[]' END) err
      RETURNING webhook_event_id
    )
    SELECT array_agg(coalesce(k.n, 0)::integer ORDER BY g.i) INTO v_errors
    FROM generate_series(1, v_n) g(i)
    LEFT JOIN (SELECT s.webhook_event_id, count(*) AS n FROM stored s GROUP BY 1) k
      ON k.webhook_event_id = v_event_ids[g.i];
  END IF;

  -- Messages, the queue and the conversation heads: one statement. A known wamid
  -- (stored before, or by a concurrent POST that commits first) is skipped by ON
  -- CONFLICT before anything of it is written; its ids, taken up front from the
  -- sequences, are simply never used (gaps, nothing else), and only messages
  -- actually stored get a queue entry.
  IF cardinality(v_parsed) = 1 THEN
    -- The usual POST: one message. The same three writes with no sorting and no
    -- de-duplication within the payload to do.
    v_msg := v_parsed[1];
    WITH inserted AS (
      INSERT INTO wapipe.processed_messages AS pm (
        id, wamid, conversation_key, phone_number_id, display_phone_number, from_wa_id,
        message_type, payload, contact, wa_timestamp, priority, queue_msg_id,
        correlation_id, webhook_event_id)
      OVERRIDING SYSTEM VALUE
      VALUES (nextval('wapipe.processed_messages_id_seq'::regclass), v_msg.wamid,
              v_msg.phone_number_id || ':' || v_msg.from_wa_id, v_msg.phone_number_id,
              v_msg.display_phone_number, v_msg.from_wa_id, v_msg.message_type, v_msg.payload,
              v_msg.contact, coalesce(to_timestamp(v_msg.wa_ts), now()),
              coalesce((SELECT r.priority FROM wapipe.priority_rules r
                        WHERE r.message_type = v_msg.message_type), 0),
              nextval('pgmq.q_wapipe_inbound_msg_id_seq'::regclass),
              correlation_ids[v_msg.payload_ord], v_event_ids[v_msg.payload_ord])
      ON CONFLICT (wamid) DO NOTHING
      RETURNING pm.id, pm.wamid, pm.queue_msg_id, pm.conversation_key, pm.phone_number_id,
                pm.from_wa_id, pm.message_type, pm.priority, pm.wa_timestamp, pm.received_at,
                pm.correlation_id, pm.webhook_event_id
    ), queued AS (
      INSERT INTO pgmq.q_wapipe_inbound AS q (msg_id, vt, message, headers)
      OVERRIDING SYSTEM VALUE
      SELECT i.queue_msg_id, v_now,
             jsonb_build_object('wamid', i.wamid, 'conversation_key', i.conversation_key,
                                'type', i.message_type),
             jsonb_build_object('x-pgmq-group', i.conversation_key, 'priority', i.priority,
                                'correlation_id', i.correlation_id)
      FROM inserted i
      RETURNING q.msg_id
    ), heads AS (
      INSERT INTO wapipe.conversations AS cv (
        conversation_key, phone_number_id, wa_id, head_message_id, head_priority,
        head_wa_timestamp, head_received_at, head_rank, available_at, last_message_at)
      SELECT i.conversation_key, i.phone_number_id, i.from_wa_id, i.id, i.priority,
             i.wa_timestamp, i.received_at,
             i.received_at - i.priority * coalesce(
               (SELECT make_interval(secs => (s.value #>> '{}')::double precision)
                FROM wapipe.settings s WHERE s.key = 'claim.priority_aging_seconds'),
               interval '30 seconds'),
             now(), now()
      FROM inserted i
      ON CONFLICT (conversation_key) DO UPDATE
        SET head_message_id = excluded.head_message_id, head_priority = excluded.head_priority,
            head_wa_timestamp = excluded.head_wa_timestamp,
            head_received_at = excluded.head_received_at, head_rank = excluded.head_rank,
            available_at = CASE WHEN cv.head_message_id IS NULL THEN excluded.available_at
                                ELSE cv.available_at END,
            last_message_at = excluded.last_message_at
        WHERE cv.head_message_id IS NULL
           OR ((cv.locked_by IS NULL OR cv.locked_until <= now())
               AND (excluded.head_wa_timestamp, excluded.head_message_id)
                   < (cv.head_wa_timestamp, cv.head_message_id))
      RETURNING 1
    ), events AS (
      INSERT INTO wapipe.webhook_events (
        id, correlation_id, payload, new_messages, duplicates, statuses, errors)
      OVERRIDING SYSTEM VALUE
      SELECT v_event_ids[1], correlation_ids[1], payloads[1], k.n, v_totals[1] - k.n,
             v_status_ct[1], v_errors[1]
      FROM (SELECT count(*)::integer AS n FROM inserted) k
      WHERE v_n = 1  -- one payload: its event too, in the same statement
      RETURNING 1
    )
    SELECT coalesce(array_agg(i.webhook_event_id), '{}') INTO v_new_events FROM inserted i;
    v_events_written := v_n = 1;
  ELSE
    WITH aging AS (
      -- wapipe._setting_num written out: one statement less per call
      SELECT make_interval(secs => (s.value #>> '{}')::double precision) AS step
      FROM wapipe.settings s WHERE s.key = 'claim.priority_aging_seconds'
    ), candidates AS (
      SELECT DISTINCT ON (u.wamid) u.*, coalesce(r.priority, 0)::smallint AS priority,
             u.phone_number_id || ':' || u.from_wa_id AS conversation_key
      FROM unnest(v_parsed) WITH ORDINALITY AS u(wamid, from_wa_id, message_type, phone_number_id,
                                                display_phone_number, wa_ts, payload, contact,
                                                entry_pos, change_pos, message_pos, payload_ord, pos)
      LEFT JOIN wapipe.priority_rules r ON r.message_type = u.message_type
      ORDER BY u.wamid, u.pos
    ), numbered AS (
      -- ids follow the payloads (the tie-break within one WhatsApp second), taken
      -- after the sort; the queue id is taken now too
      SELECT c.*, nextval('wapipe.processed_messages_id_seq'::regclass) AS id,
             nextval('pgmq.q_wapipe_inbound_msg_id_seq'::regclass) AS queue_msg_id
      FROM candidates c
      ORDER BY c.pos
    ), inserted AS (
      -- ...but rows go in in wamid order: two calls that share wamids (Meta delivers
      -- the same message again, in another group) wait for each other in one order
      -- and never deadlock.
      INSERT INTO wapipe.processed_messages AS pm (
        id, wamid, conversation_key, phone_number_id, display_phone_number, from_wa_id,
        message_type, payload, contact, wa_timestamp, priority, queue_msg_id,
        correlation_id, webhook_event_id)
      OVERRIDING SYSTEM VALUE
      SELECT c.id, c.wamid, c.conversation_key, c.phone_number_id, c.display_phone_number,
             c.from_wa_id, c.message_type, c.payload, c.contact,
             coalesce(to_timestamp(c.wa_ts), now()), c.priority, c.queue_msg_id,
             correlation_ids[c.payload_ord], v_event_ids[c.payload_ord]
      FROM numbered c
      ORDER BY c.wamid
      ON CONFLICT (wamid) DO NOTHING
      RETURNING pm.id, pm.wamid, pm.queue_msg_id, pm.conversation_key, pm.phone_number_id,
                pm.from_wa_id, pm.message_type, pm.priority, pm.wa_timestamp, pm.received_at,
                pm.correlation_id, pm.webhook_event_id
    ), queued AS (
      -- pgmq.send_batch's own INSERT, written out: a static statement keeps its plan
      -- cached (send_batch builds it with EXECUTE on every call). The entry only
      -- references the stored message; its content lives once, in processed_messages.
      INSERT INTO pgmq.q_wapipe_inbound AS q (msg_id, vt, message, headers)
      OVERRIDING SYSTEM VALUE
      SELECT i.queue_msg_id, v_now,
             jsonb_build_object('wamid', i.wamid, 'conversation_key', i.conversation_key,
                                'type', i.message_type),
             jsonb_build_object('x-pgmq-group', i.conversation_key, 'priority', i.priority,
                                'correlation_id', i.correlation_id)
      FROM inserted i
      ORDER BY i.id
      RETURNING q.msg_id
    ), heads AS (
      -- Head index: a new conversation gets its first new message as head; an idle
      -- one wakes up; an unclaimed one switches to an earlier message (Meta delivers
      -- concurrently, so a later message can arrive first). Usually nothing changes
      -- (the conversation already has an older head) but the row is still locked
      -- until commit: a worker that frees the conversation (FOR UPDATE) waits for
      -- this commit, so its head refresh sees the new message. One row per
      -- conversation, in key order, so concurrent ingests never deadlock here.
      INSERT INTO wapipe.conversations AS cv (
        conversation_key, phone_number_id, wa_id, head_message_id, head_priority,
        head_wa_timestamp, head_received_at, head_rank, available_at, last_message_at)
      SELECT DISTINCT ON (i.conversation_key)
             i.conversation_key, i.phone_number_id, i.from_wa_id, i.id, i.priority,
             i.wa_timestamp, i.received_at, i.received_at - i.priority * coalesce((SELECT a.step FROM aging a), interval '30 seconds'),
             now(), now()
      FROM inserted i
      ORDER BY i.conversation_key, i.wa_timestamp, i.id
      ON CONFLICT (conversation_key) DO UPDATE
        SET head_message_id = excluded.head_message_id, head_priority = excluded.head_priority,
            head_wa_timestamp = excluded.head_wa_timestamp,
            head_received_at = excluded.head_received_at, head_rank = excluded.head_rank,
            available_at = CASE WHEN cv.head_message_id IS NULL THEN excluded.available_at
                                ELSE cv.available_at END,
            last_message_at = excluded.last_message_at
        WHERE cv.head_message_id IS NULL
           OR ((cv.locked_by IS NULL OR cv.locked_until <= now())
               AND (excluded.head_wa_timestamp, excluded.head_message_id)
                   < (cv.head_wa_timestamp, cv.head_message_id))
      RETURNING 1
    )
    -- (queued and heads run to completion whether read or not)
    SELECT coalesce(array_agg(i.webhook_event_id), '{}') INTO v_new_events FROM inserted i;
  END IF;

  -- The raw events, each with its counts.
  IF v_n = 1 THEN
    v_new := ARRAY[cardinality(v_new_events)];
  END IF;
  IF v_events_written THEN
    NULL;
  ELSIF v_n = 1 THEN
    INSERT INTO wapipe.webhook_events (
      id, correlation_id, payload, new_messages, duplicates, statuses, errors)
    OVERRIDING SYSTEM VALUE
    VALUES (v_event_ids[1], correlation_ids[1], payloads[1], v_new[1], v_totals[1] - v_new[1],
            v_status_ct[1], v_errors[1]);
  ELSE
    SELECT array_agg((SELECT count(*) FROM unnest(v_new_events) e WHERE e = v_event_ids[g.i])::integer
                      ORDER BY g.i)
    INTO v_new
    FROM generate_series(1, v_n) g(i);
    INSERT INTO wapipe.webhook_events (
      id, correlation_id, payload, new_messages, duplicates, statuses, errors)
    OVERRIDING SYSTEM VALUE
    SELECT v_event_ids[g.i], correlation_ids[g.i], payloads[g.i], v_new[g.i],
           v_totals[g.i] - v_new[g.i], v_status_ct[g.i], v_errors[g.i]
    FROM generate_series(1, v_n) g(i);
  END IF;

  -- Wake the workers (LISTEN on pgmq's channel) once per call; they also poll,
  -- so a wake-up another concurrent ingest sends instead of this one costs
  -- little latency (see wapipe._wake_workers; its two statements written out).
  IF cardinality(v_new_events) > 0 THEN
    IF pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('wapipe.wake_workers'), 0) THEN
      PERFORM pg_catalog.pg_notify('pgmq.q_wapipe_inbound.INSERT', NULL);
    END IF;
  END IF;

  IF v_n = 1 THEN
    ord := 1; event_id := v_event_ids[1]; new_messages := v_new[1];
    duplicates := v_totals[1] - v_new[1]; statuses := v_status_ct[1]; errors := v_errors[1];
    RETURN NEXT;
  ELSE
    RETURN QUERY
    SELECT g.i::integer, v_event_ids[g.i], v_new[g.i], v_totals[g.i] - v_new[g.i],
           v_status_ct[g.i], v_errors[g.i]
    FROM generate_series(1, v_n) g(i);
  END IF;
END
$$;
COMMENT ON FUNCTION wapipe.ingest_webhooks(jsonb[], text[]) IS
  'Store several webhook POSTs in one transaction (each its own raw event, correlation_ids[i] for payloads[i]): deduplicated messages enqueued in pgmq by conversation and priority, statuses (never backwards) and value.errors. Returns one row per payload (ord, event_id, new_messages, duplicates, statuses, errors). Raises 22023 naming the first payload that is not a WhatsApp webhook, and then stores nothing.';

REVOKE ALL ON FUNCTION wapipe.ingest_webhooks(jsonb[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.ingest_webhooks(jsonb[], text[]) TO wapipe_ingress;
