-- The 24-hour customer-service window of a conversation.
--
-- WhatsApp lets a business send free-form messages only within 24 hours of the user's
-- last message; outside it only an approved template. The clock is the WhatsApp time
-- (wa_timestamp) of the newest message the USER sent: a queued or handled message
-- (conversations.last_inbound_at once finished, processed_messages_unfinished_idx
-- before) or a reaction (recorded, never queued: processed_messages_reactions_idx).
-- Echoes of the business's own app, statuses, system messages, revokes and edits
-- never open it.

-- wapipe._windows_close_at: when each conversation's 24-hour window closes (the one text of the rule).
-- Returns one row per distinct non-NULL key: the last inbound user message's WhatsApp time + 24 hours, or NULL when the user never wrote.
--
-- One call per batch (message_contexts, claim_outbox): plpgsql, so its one statement
-- is planned once per session. (A LANGUAGE sql function with SECURITY DEFINER is
-- never inlined, and PostgreSQL 15 plans its body again in every statement that
-- calls it: that was ~0.4 ms per claim batch.)
CREATE OR REPLACE FUNCTION wapipe._windows_close_at(conversation_keys text[])
RETURNS TABLE (conversation_key text, closes_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
  -- (no planner settings of its own: it plans under its callers', which all set them)
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  SELECT k.key,
         greatest(
           (SELECT v.last_inbound_at FROM wapipe.conversations v
            WHERE v.conversation_key = k.key),
           (SELECT max(m.wa_timestamp) FROM wapipe.processed_messages m
            WHERE m.conversation_key = k.key
              AND m.processed_at IS NULL),                     -- unfinished: queued by the ingest
           (SELECT max(r.wa_timestamp) FROM wapipe.processed_messages r
            WHERE r.conversation_key = k.key
              AND r.message_type = 'reaction'))
         + interval '24 hours'
  FROM (SELECT DISTINCT x AS key FROM unnest(conversation_keys) AS x WHERE x IS NOT NULL) k;
END
$$;
COMMENT ON FUNCTION wapipe._windows_close_at(text[]) IS
  'Private: for each distinct conversation key (phone_number_id:user key), the time its 24-hour customer-service window closes: the WhatsApp time of the user''s last message or reaction + 24 h; NULL when the user never wrote. Echoes, statuses and system messages do not count.';
REVOKE ALL ON FUNCTION wapipe._windows_close_at(text[]) FROM PUBLIC;

-- wapipe._window_closes_at: when one conversation's 24-hour window closes (_windows_close_at of one key).
-- Returns the last inbound user message's WhatsApp time + 24 hours, or NULL when the user never wrote.
CREATE OR REPLACE FUNCTION wapipe._window_closes_at(conversation_key text)
RETURNS timestamptz
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
  -- (the planner settings of the helpers it calls, which have none of their own)
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
  SET enable_mergejoin = off SET enable_hashjoin = off
AS $$
DECLARE
  v_closes timestamptz;
BEGIN
  SELECT w.closes_at INTO v_closes
  FROM wapipe._windows_close_at(ARRAY[_window_closes_at.conversation_key]) w;
  RETURN v_closes;
END
$$;
COMMENT ON FUNCTION wapipe._window_closes_at(text) IS
  'Private: the time the 24-hour customer-service window of conversation_key (phone_number_id:user key) closes (_windows_close_at of one key): the WhatsApp time of the user''s last message or reaction + 24 h; NULL when the user never wrote.';
REVOKE ALL ON FUNCTION wapipe._window_closes_at(text) FROM PUBLIC;

-- wapipe.conversation_window: the window of one conversation, for operators, workflows and agents.
-- Returns one row: closes_at (NULL: never opened), open (closes_at > now()), seconds_left (0 when closed).
CREATE OR REPLACE FUNCTION wapipe.conversation_window(conversation_key text)
RETURNS TABLE (closes_at timestamptz, open boolean, seconds_left integer)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  v_closes timestamptz := wapipe._window_closes_at(conversation_window.conversation_key);
BEGIN
  IF coalesce(conversation_window.conversation_key, '') = '' THEN
    RAISE EXCEPTION 'conversation_key must be a non-empty text' USING ERRCODE = '22023';
  END IF;
  RETURN QUERY SELECT v_closes, coalesce(v_closes > now(), false),
                      greatest(coalesce(extract(epoch FROM v_closes - now()), 0), 0)::integer;
END
$$;
COMMENT ON FUNCTION wapipe.conversation_window(text) IS
  'The 24-hour customer-service window of conversation_key (phone_number_id:user key): closes_at (last user message or reaction + 24 h; NULL when the user never wrote), open, seconds_left. Raises 22023 for an empty key.';
REVOKE ALL ON FUNCTION wapipe.conversation_window(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.conversation_window(text) TO wapipe_worker, wapipe_monitor;
