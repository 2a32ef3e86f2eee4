-- wapipe._conversation_rank: the claim order of a conversation head.
-- Returns received_at moved earlier by priority x aging_step (claim.priority_aging_seconds).
--
-- A pure expression, so plain SQL without SECURITY DEFINER/SET (db/README.md house
-- rules): PostgreSQL inlines it into the statements that use it, at no call cost per
-- row. The caller reads the setting once and passes the step.
CREATE OR REPLACE FUNCTION wapipe._conversation_rank(received_at timestamptz, priority smallint,
                                                     aging_step interval)
RETURNS timestamptz
LANGUAGE sql STABLE
RETURN received_at - priority * aging_step;
COMMENT ON FUNCTION wapipe._conversation_rank(timestamptz, smallint, interval) IS
  'Private (pure, inlined): claim order key of a conversation head, received_at - priority x aging_step (earlier = served first).';

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
                                  ELSE wapipe._conversation_rank(head.received_at, head.priority,
                                         make_interval(secs => wapipe._setting_num('claim.priority_aging_seconds')))
                                  END
   WHERE c.conversation_key = conversation;
  RETURN head.id;
END
$$;
COMMENT ON FUNCTION wapipe._refresh_conversation_head(text) IS
  'Private: recompute a conversation''s head (oldest unfinished message by WhatsApp time); returns its id or NULL.';

REVOKE ALL ON FUNCTION wapipe._conversation_rank(timestamptz, smallint, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION wapipe._refresh_conversation_head(text) FROM PUBLIC;
