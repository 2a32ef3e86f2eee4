-- wapipe._conversation_rank: the claim order of a conversation head.
-- Returns received_at moved earlier by priority x claim.priority_aging_seconds.
-- (PL/pgSQL so its plan is kept: a SECURITY DEFINER SQL function is planned on every call.)
CREATE OR REPLACE FUNCTION wapipe._conversation_rank(received_at timestamptz, priority smallint)
RETURNS timestamptz
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  RETURN received_at
         - make_interval(secs => priority * wapipe._setting_num('claim.priority_aging_seconds'));
END
$$;
COMMENT ON FUNCTION wapipe._conversation_rank(timestamptz, smallint) IS
  'Private: claim order key of a conversation head (earlier = served first).';

-- wapipe._refresh_conversation_head: point a conversation at its oldest unfinished message.
-- Returns the new head's processed_messages.id, or NULL when the conversation is idle.
CREATE OR REPLACE FUNCTION wapipe._refresh_conversation_head(conversation text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  head record;
BEGIN
  SELECT m.id, m.priority, m.wa_timestamp, m.received_at INTO head
  FROM wapipe.processed_messages m
  WHERE m.conversation_key = conversation AND m.processed_at IS NULL  -- unfinished: partial index
  ORDER BY m.wa_timestamp, m.id
  LIMIT 1;

  UPDATE wapipe.conversations c
     SET head_message_id   = head.id,
         head_priority     = head.priority,
         head_wa_timestamp = head.wa_timestamp,
         head_received_at  = head.received_at,
         head_rank         = CASE WHEN head.id IS NULL THEN NULL
                                  ELSE wapipe._conversation_rank(head.received_at, head.priority) END
   WHERE c.conversation_key = conversation;
  RETURN head.id;
END
$$;
COMMENT ON FUNCTION wapipe._refresh_conversation_head(text) IS
  'Private: recompute a conversation''s head (oldest unfinished message by WhatsApp time); returns its id or NULL.';

-- wapipe._head_is_replaceable: may an ingested message become the head instead of the current one?
-- Returns true when the conversation is idle, or unclaimed and the candidate is earlier.
CREATE OR REPLACE FUNCTION wapipe._head_is_replaceable(
  current_row wapipe.conversations, candidate wapipe.conversations)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
AS $$
  SELECT current_row.head_message_id IS NULL
      OR ((current_row.locked_by IS NULL OR current_row.locked_until <= now())
          AND (candidate.head_wa_timestamp, candidate.head_message_id)
              < (current_row.head_wa_timestamp, current_row.head_message_id))
$$;
COMMENT ON FUNCTION wapipe._head_is_replaceable(wapipe.conversations, wapipe.conversations) IS
  'Private: true when an ingested message should replace a conversation''s head (idle, or unclaimed and earlier).';

REVOKE ALL ON FUNCTION wapipe._conversation_rank(timestamptz, smallint) FROM PUBLIC;
REVOKE ALL ON FUNCTION wapipe._refresh_conversation_head(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION wapipe._head_is_replaceable(wapipe.conversations, wapipe.conversations) FROM PUBLIC;
