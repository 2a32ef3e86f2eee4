-- The outbox sender: settings for unknown send outcomes and pair backoff, per-recipient order, 24-hour window lookup.
-- depends: 0002_core_tables

INSERT INTO wapipe.settings (key, value, description) VALUES
  ('outbox.unknown_outcome_grace_seconds', '120',
   'a row whose send outcome is unknown (lease expired while sending) waits this long after its lease '
   'for a status webhook carrying outbox:<id> before it is sent again'),
  ('outbox.pair_backoff_seconds', '6',
   'minimum backoff for one recipient after Meta error 131056 (pair rate limit)')
ON CONFLICT (key) DO NOTHING;

-- Replies to one recipient go out in id order, one at a time: a claim takes a row
-- only when no earlier unfinished row of the same (business number, recipient) exists.
-- That also holds a recipient back while its head waits out a 131056 backoff.
CREATE INDEX outbox_pair_unfinished_idx
  ON wapipe.outbox (phone_number_id, to_wa_id, id)
  WHERE status IN ('pending', 'sending');

-- The 24-hour customer-service window: last inbound message of a user to a business number
-- (conversation_key = phone_number_id:wa_id), done messages included.
CREATE INDEX processed_messages_last_inbound_idx
  ON wapipe.processed_messages (conversation_key, wa_timestamp DESC);
