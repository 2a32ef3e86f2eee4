-- Handing a conversation to a human (wapipe.handoffs).
--
-- While a conversation has an open handoff whose `until` is in the future, the worker
-- calls no agent, runs no workflow step and sends nothing automatically (no reply, no
-- rate-limit notice): message_context(s) say handed_off and the handler completes the
-- message with no reply, appending the user's words to the conversation memory. Staff
-- answers (echoes from the WhatsApp Business app, `wapipe send`) are appended to the
-- memory too, as assistant turns marked "[staff] ", so the agent's next turn sees what
-- was said meanwhile. A handoff ends at `until` (expire_handoffs, the minute pg_cron
-- job, closes the row; it stops counting the moment `until` passes), by end_handoff,
-- or early when nothing extends it.
-- Started by: the agent's answer ("handoff": {...}, started_by agent:<name>), a routing
-- keyword of the worker (rule:<keyword>), an echo (business_app, handoff.echo_minutes
-- after the echo), an operator (operator:<who>).

-- wapipe._handoff_hold: start a handoff of a conversation until a time, or extend the open one to it.
-- Returns the open handoff row (unchanged when it already lasts longer); NULL when `until` has passed.
CREATE OR REPLACE FUNCTION wapipe._handoff_hold(
  conversation_key text, started_by text, reason text, until timestamptz)
RETURNS wapipe.handoffs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
  h wapipe.handoffs;
BEGIN
  IF coalesce(_handoff_hold.conversation_key, '') !~ '^[^:]+:.+$' THEN
    RAISE EXCEPTION 'conversation_key must be phone_number_id:user_key, got %',
      coalesce(quote_literal(left(_handoff_hold.conversation_key, 60)), 'NULL') USING ERRCODE = '22023';
  END IF;
  IF coalesce(btrim(_handoff_hold.started_by), '') = '' THEN
    RAISE EXCEPTION 'a handoff needs who starts it (started_by)' USING ERRCODE = '22023';
  END IF;
  IF _handoff_hold.until IS NULL OR _handoff_hold.until <= now() THEN
    RETURN NULL;
  END IF;
  -- an open row whose time has passed is over, whether or not the minute job saw it yet
  UPDATE wapipe.handoffs x SET ended_at = x.until, ended_by = 'expiry'
   WHERE x.conversation_key = _handoff_hold.conversation_key AND x.ended_at IS NULL
     AND x.until <= now();
  INSERT INTO wapipe.handoffs AS x (conversation_key, phone_number_id, user_key, started_by, reason, until)
  VALUES (_handoff_hold.conversation_key, split_part(_handoff_hold.conversation_key, ':', 1),
          substr(_handoff_hold.conversation_key, strpos(_handoff_hold.conversation_key, ':') + 1),
          _handoff_hold.started_by, left(_handoff_hold.reason, 500), _handoff_hold.until)
  ON CONFLICT (conversation_key) WHERE ended_at IS NULL DO UPDATE
    SET until = greatest(x.until, excluded.until),
        extended_at = CASE WHEN excluded.until > x.until THEN now() ELSE x.extended_at END,
        extended_by = CASE WHEN excluded.until > x.until THEN excluded.started_by ELSE x.extended_by END,
        reason = coalesce(x.reason, excluded.reason)
  RETURNING x.* INTO h;
  RETURN h;
END
$$;
COMMENT ON FUNCTION wapipe._handoff_hold(text, text, text, timestamptz) IS
  'Private: start a handoff of conversation_key until `until`, or extend the open one to it (never shortened); an open row already past its until is closed first (ended_by expiry). Returns the open row, NULL when until is not in the future. Raises 22023 for a malformed key or an empty started_by.';
REVOKE ALL ON FUNCTION wapipe._handoff_hold(text, text, text, timestamptz) FROM PUBLIC;

-- wapipe.start_handoff: hand a conversation to a human for `minutes`, or extend its open handoff.
-- Returns the open handoff row.
CREATE OR REPLACE FUNCTION wapipe.start_handoff(
  conversation_key text, started_by text, reason text DEFAULT NULL, minutes integer DEFAULT NULL)
RETURNS wapipe.handoffs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  v_minutes integer := coalesce(start_handoff.minutes,
                                wapipe._setting_num('handoff.default_minutes')::integer);
BEGIN
  IF v_minutes < 1 OR v_minutes > wapipe._setting_num('handoff.max_minutes') THEN
    RAISE EXCEPTION 'minutes must be between 1 and handoff.max_minutes (%), got %',
      wapipe._setting_num('handoff.max_minutes'), v_minutes USING ERRCODE = '22023';
  END IF;
  RETURN wapipe._handoff_hold(start_handoff.conversation_key, start_handoff.started_by,
                              start_handoff.reason, now() + make_interval(mins => v_minutes));
END
$$;
COMMENT ON FUNCTION wapipe.start_handoff(text, text, text, integer) IS
  'Hand conversation_key (phone_number_id:user key) to a human until now() + minutes (handoff.default_minutes when NULL): a new handoff, or the open one extended (never shortened). started_by says who (agent:<name>, rule:<word>, business_app, operator:<who>). Returns the open handoff row. Raises 22023 for a malformed key, empty started_by, or minutes outside 1..handoff.max_minutes.';
REVOKE ALL ON FUNCTION wapipe.start_handoff(text, text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.start_handoff(text, text, text, integer) TO wapipe_worker;

-- wapipe.end_handoff: give a conversation back to the bot now.
-- Returns true when an open handoff was ended, false when there was none.
CREATE OR REPLACE FUNCTION wapipe.end_handoff(conversation_key text, ended_by text DEFAULT 'operator')
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  IF coalesce(btrim(end_handoff.ended_by), '') = '' THEN
    RAISE EXCEPTION 'end_handoff needs who ends it (ended_by)' USING ERRCODE = '22023';
  END IF;
  UPDATE wapipe.handoffs x
     SET ended_at = least(now(), x.until),
         ended_by = CASE WHEN x.until <= now() THEN 'expiry' ELSE end_handoff.ended_by END
   WHERE x.conversation_key = end_handoff.conversation_key AND x.ended_at IS NULL;
  RETURN FOUND;
END
$$;
COMMENT ON FUNCTION wapipe.end_handoff(text, text) IS
  'End the open handoff of conversation_key now (ended_by recorded; one already past its until is recorded as expiry). Returns true when there was an open one. Raises 22023 for an empty ended_by.';
REVOKE ALL ON FUNCTION wapipe.end_handoff(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.end_handoff(text, text) TO wapipe_worker;

-- wapipe.expire_handoffs: close every open handoff whose time has passed (pg_cron, every minute).
-- Returns how many it closed.
CREATE OR REPLACE FUNCTION wapipe.expire_handoffs()
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  n integer;
BEGIN
  UPDATE wapipe.handoffs x SET ended_at = x.until, ended_by = 'expiry'
   WHERE x.ended_at IS NULL AND x.until <= now();
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION wapipe.expire_handoffs() IS
  'Close the open handoffs whose until has passed (ended_at = until, ended_by expiry): the conversations are the bot''s again. Returns how many. Run every minute by pg_cron (wapipe-expire-handoffs).';
REVOKE ALL ON FUNCTION wapipe.expire_handoffs() FROM PUBLIC;

-- wapipe.list_handoffs: the handoffs in force (and, on request, the ended ones), newest first.
-- Returns one row per handoff; active = not ended and until in the future.
CREATE OR REPLACE FUNCTION wapipe.list_handoffs(include_ended boolean DEFAULT false, max_count integer DEFAULT 100)
RETURNS TABLE (id bigint, conversation_key text, phone_number_id text, user_key text,
               started_at timestamptz, started_by text, reason text, until timestamptz,
               extended_at timestamptz, extended_by text, ended_at timestamptz, ended_by text,
               active boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
AS $$
  SELECT x.id, x.conversation_key, x.phone_number_id, x.user_key, x.started_at, x.started_by,
         x.reason, x.until, x.extended_at, x.extended_by, x.ended_at, x.ended_by,
         x.ended_at IS NULL AND x.until > now()
  FROM wapipe.handoffs x
  WHERE (x.ended_at IS NULL AND x.until > now()) OR coalesce(list_handoffs.include_ended, false)
  ORDER BY x.started_at DESC, x.id DESC
  LIMIT greatest(coalesce(list_handoffs.max_count, 100), 0)
$$;
COMMENT ON FUNCTION wapipe.list_handoffs(boolean, integer) IS
  'The handoffs in force (not ended, until in the future), newest first; with include_ended also the ended ones. At most max_count rows. Holds user keys: operators and the status page (which masks them) only.';
REVOKE ALL ON FUNCTION wapipe.list_handoffs(boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.list_handoffs(boolean, integer) TO wapipe_monitor;

-- wapipe._remember_staff_turn: append what staff sent a user to the user's latest memory session.
-- Returns the memory id it was appended to, or NULL when the user has no memory yet.
CREATE OR REPLACE FUNCTION wapipe._remember_staff_turn(user_key text, content text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  v_memory bigint;
BEGIN
  SELECT m.id INTO v_memory
  FROM wapipe.ai_conversation_memory m
  WHERE m.user_phone = _remember_staff_turn.user_key
  ORDER BY m.last_activity_at DESC, m.id DESC
  LIMIT 1;
  IF v_memory IS NOT NULL THEN
    PERFORM wapipe.update_conversation_memory(v_memory, 'assistant',
                                              '[staff] ' || coalesce(_remember_staff_turn.content, ''));
  END IF;
  RETURN v_memory;
END
$$;
COMMENT ON FUNCTION wapipe._remember_staff_turn(text, text) IS
  'Private: append {"role": "assistant", "content": "[staff] <content>"} to the user''s most recent memory session (any agent), so the agent''s next turn sees what staff said. Returns the memory id, NULL when the user has none.';
REVOKE ALL ON FUNCTION wapipe._remember_staff_turn(text, text) FROM PUBLIC;

-- wapipe._handoff_on_echoes: what the business's own app sent (coexistence echoes) does to conversations.
-- Returns how many echoes started or extended a handoff. Called by ingest_webhooks after storing messages.
--
-- Only echoes stored by this call count (processed_messages.webhook_event_id is this
-- POST's event), so a redelivered echo changes nothing twice. Each hands its
-- conversation to staff until the echo's WhatsApp time + handoff.echo_minutes (0: off)
-- and is appended to the user's memory as a staff turn.
CREATE OR REPLACE FUNCTION wapipe._handoff_on_echoes(msgs wapipe.inbound_message[], event_ids bigint[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  minutes numeric;
  e record;
  n integer := 0;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM unnest(msgs) u WHERE u.kind = 'echo') THEN
    RETURN 0;
  END IF;
  minutes := coalesce(wapipe._setting_num('handoff.echo_minutes'), 30);
  FOR e IN
    SELECT u.phone_number_id || ':' || u.from_wa_id AS conversation_key, u.from_wa_id AS user_key,
           coalesce(to_timestamp(u.wa_ts), now()) AS at,
           coalesce(u.payload->'text'->>'body', '[' || coalesce(u.payload->>'type', 'message') || ']') AS content
    FROM unnest(msgs) u
    JOIN wapipe.message_wamids w ON w.wamid = u.wamid
    JOIN wapipe.processed_messages pm ON pm.id = w.message_id
    WHERE u.kind = 'echo' AND pm.webhook_event_id = event_ids[u.payload_ord]
    ORDER BY 1, u.wa_ts, u.pos
  LOOP
    PERFORM wapipe._remember_staff_turn(e.user_key, e.content);
    IF minutes > 0 AND wapipe._handoff_hold(e.conversation_key, 'business_app',
                                            'staff answered from the WhatsApp Business app',
                                            e.at + make_interval(secs => minutes * 60)) IS NOT NULL THEN
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END
$$;
COMMENT ON FUNCTION wapipe._handoff_on_echoes(wapipe.inbound_message[], bigint[]) IS
  'Private (ingest_webhooks): each coexistence echo stored by this call is appended to the user''s memory as a staff turn and hands the conversation to staff until the echo''s time + handoff.echo_minutes (start or extend; 0 turns it off). Returns how many handoffs it started or extended.';
REVOKE ALL ON FUNCTION wapipe._handoff_on_echoes(wapipe.inbound_message[], bigint[]) FROM PUBLIC;

-- wapipe.resolve_conversation: the conversation(s) of a user named by phone, BSUID, user key or conversation key.
-- Returns one row per business number the user is known on (narrowed to business_number when given).
CREATE OR REPLACE FUNCTION wapipe.resolve_conversation(user_ref text, business_number text DEFAULT NULL)
RETURNS TABLE (conversation_key text, phone_number_id text, user_key text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
AS $$
  SELECT DISTINCT k.pnid || ':' || k.user_key, k.pnid, k.user_key
  FROM (
    SELECT i.phone_number_id AS pnid, i.user_key FROM wapipe.user_identifiers i
    WHERE i.identifier = ltrim(resolve_conversation.user_ref, '+')
    UNION ALL
    SELECT u.phone_number_id, u.user_key FROM wapipe.users u
    WHERE u.user_key = ltrim(resolve_conversation.user_ref, '+')
    UNION ALL
    SELECT c.phone_number_id, c.wa_id FROM wapipe.conversations c
    WHERE c.conversation_key = resolve_conversation.user_ref
       OR (c.wa_id = ltrim(resolve_conversation.user_ref, '+'))
  ) k
  WHERE resolve_conversation.business_number IS NULL OR k.pnid = resolve_conversation.business_number
  ORDER BY 2
$$;
COMMENT ON FUNCTION wapipe.resolve_conversation(text, text) IS
  'Operators: the conversations of a user named by phone (with or without +), BSUID, stable user key or a conversation key, through wapipe.user_identifiers and wapipe.users; one row per business number (only business_number''s when given). No rows: unknown user.';
REVOKE ALL ON FUNCTION wapipe.resolve_conversation(text, text) FROM PUBLIC;

-- wapipe.queue_operator_message: queue a message an operator writes to a user, through the outbox.
-- Returns the outbox row and whether this call queued it (false: the dedup key was used before).
--
-- source_key 'operator:<dedup_key>': the same key queues once, however often it is
-- sent. The sender treats the row like any reply (pacing, the 24-hour window, the
-- recipient's order). The text is appended to the user's memory as a staff turn.
CREATE OR REPLACE FUNCTION wapipe.queue_operator_message(
  conversation_key text, body jsonb, dedup_key text, sent_by text DEFAULT 'operator')
RETURNS TABLE (outbox_id bigint, queued boolean, status text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  v_id bigint;
  v_key text := 'operator:' || queue_operator_message.dedup_key;
  v_user text := substr(queue_operator_message.conversation_key,
                        strpos(queue_operator_message.conversation_key, ':') + 1);
BEGIN
  IF coalesce(queue_operator_message.conversation_key, '') !~ '^[^:]+:.+$' THEN
    RAISE EXCEPTION 'conversation_key must be phone_number_id:user_key' USING ERRCODE = '22023';
  END IF;
  IF jsonb_typeof(queue_operator_message.body) IS DISTINCT FROM 'object'
     OR jsonb_typeof(queue_operator_message.body->'type') IS DISTINCT FROM 'string' THEN
    RAISE EXCEPTION 'body must be a Graph API message object with a type' USING ERRCODE = '22023';
  END IF;
  IF coalesce(btrim(queue_operator_message.dedup_key), '') = '' THEN
    RAISE EXCEPTION 'dedup_key must be a non-empty text' USING ERRCODE = '22023';
  END IF;
  INSERT INTO wapipe.outbox AS o (source_key, seq, phone_number_id, to_wa_id, body, correlation_id)
  VALUES (v_key, 0, split_part(queue_operator_message.conversation_key, ':', 1), v_user,
          queue_operator_message.body, v_key)
  ON CONFLICT (source_key, seq) DO NOTHING
  RETURNING o.id INTO v_id;
  IF v_id IS NOT NULL THEN
    PERFORM wapipe._remember_staff_turn(
      v_user, coalesce(queue_operator_message.body->'text'->>'body',
                       '[' || (queue_operator_message.body->>'type') || ']'));
    RETURN QUERY SELECT v_id, true, 'pending'::text;
    RETURN;
  END IF;
  RETURN QUERY SELECT o.id, false, o.status FROM wapipe.outbox o WHERE o.source_key = v_key AND o.seq = 0;
END
$$;
COMMENT ON FUNCTION wapipe.queue_operator_message(text, jsonb, text, text) IS
  'Operators (wapipe send): queue body (a Graph API message object) to the user of conversation_key through the outbox under source_key operator:<dedup_key> (once per key), appended to the user''s memory as a staff turn. Returns the outbox id, whether this call queued it, and its status. Raises 22023 for a malformed key, body or empty dedup_key.';
REVOKE ALL ON FUNCTION wapipe.queue_operator_message(text, jsonb, text, text) FROM PUBLIC;
