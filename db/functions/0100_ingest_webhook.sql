-- wapipe.ingest_webhook: store one webhook POST and enqueue its new messages, in one transaction.
-- Returns one row: the event id and the counts of new messages, duplicates, statuses and errors.
--
-- Walks every entry, change, message and status (up to 1000 updates per POST).
-- Each message is deduplicated on its wamid and only new ones go to pgmq with
-- the conversation as FIFO group and the priority of its type; the conversation
-- head index is kept current so a claim never scans the backlog. Any message
-- type is accepted (unknown types get priority 0). A payload that is not a
-- WhatsApp webhook raises SQLSTATE 22023 and stores nothing. The work is
-- wapipe.ingest_webhooks' (the same code for one POST or a group of them).
CREATE OR REPLACE FUNCTION wapipe.ingest_webhook(payload jsonb, correlation_id text DEFAULT NULL)
RETURNS TABLE (event_id bigint, new_messages integer, duplicates integer, statuses integer, errors integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  RETURN QUERY
  SELECT r.event_id, r.new_messages, r.duplicates, r.statuses, r.errors
  FROM wapipe.ingest_webhooks(ARRAY[payload], ARRAY[correlation_id]) r;
END
$$;
COMMENT ON FUNCTION wapipe.ingest_webhook(jsonb, text) IS
  'Store a whole webhook POST in one transaction: raw event, deduplicated messages enqueued in pgmq by conversation and priority, statuses (never backwards) and value.errors. Returns (event_id, new_messages, duplicates, statuses, errors). Raises 22023 for a payload that is not a WhatsApp webhook.';

REVOKE ALL ON FUNCTION wapipe.ingest_webhook(jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.ingest_webhook(jsonb, text) TO wapipe_ingress;
