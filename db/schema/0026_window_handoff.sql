-- The 24-hour window and handing a conversation to a human: outbox status window_closed and its fallback stamp, reactions in the window, wapipe.handoffs, settings.
-- depends: 0023_outbox_send_started
--
-- Window: a conversation's window closes 24 h after the user's last inbound message
-- (wapipe._window_closes_at, db/functions/0710). Queued messages already count
-- (conversations.last_inbound_at, processed_messages_unfinished_idx); a user's
-- reaction is recorded, never queued, so its own small partial index lets the
-- window see it without a write at ingest. Echoes, statuses and system messages
-- never open it.
-- Outbox: a free-form reply the sender holds back because the window is closed ends
-- 'window_closed' (not 'failed'): it was never an error of Meta's or ours, and an
-- operator lists them apart (wapipe window list). window_fallback_at: the row's
-- outside_window template was sent in its place.
ALTER TABLE wapipe.outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE wapipe.outbox ADD CONSTRAINT outbox_status_check
  CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'dry_run', 'window_closed'));
ALTER TABLE wapipe.outbox ADD COLUMN window_fallback_at timestamptz;
COMMENT ON COLUMN wapipe.outbox.window_fallback_at IS
  'set when the 24-hour window was closed and the row''s outside_window message (a template) was sent instead of its body';
CREATE INDEX outbox_window_closed_idx ON wapipe.outbox (created_at) WHERE status = 'window_closed';

CREATE INDEX processed_messages_reactions_idx
  ON wapipe.processed_messages (conversation_key, wa_timestamp)
  WHERE message_type = 'reaction';

-- Handoff: while a conversation has an open handoff whose `until` has not passed, the
-- worker calls no agent and sends nothing automatically; the messages are stored and
-- kept in memory. At most one open handoff per conversation; ended ones stay as history.
CREATE TABLE wapipe.handoffs (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  conversation_key text NOT NULL,          -- phone_number_id || ':' || user key
  phone_number_id  text NOT NULL,
  user_key         text NOT NULL,
  started_at       timestamptz NOT NULL DEFAULT now(),
  started_by       text NOT NULL,          -- agent:<name>, rule:<keyword>, business_app, operator:<who>
  reason           text,
  until            timestamptz NOT NULL,
  extended_at      timestamptz,
  extended_by      text,
  ended_at         timestamptz,
  ended_by         text                    -- expiry, operator:<who>, …
);
CREATE UNIQUE INDEX handoffs_one_open_per_conversation
  ON wapipe.handoffs (conversation_key) WHERE ended_at IS NULL;
CREATE INDEX handoffs_open_until_idx ON wapipe.handoffs (until) WHERE ended_at IS NULL;
CREATE INDEX handoffs_started_at_idx ON wapipe.handoffs (started_at);
ALTER TABLE wapipe.handoffs ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON wapipe.handoffs FROM PUBLIC;

INSERT INTO wapipe.settings (key, value, description) VALUES
  ('handoff.echo_minutes', '30',
   'a message staff send from the WhatsApp Business app (coexistence echo) hands the conversation to them '
   'for this many minutes after the echo (starts or extends the handoff; 0: echoes never hand off)'),
  ('handoff.default_minutes', '60', 'length of a handoff started without a length'),
  ('handoff.max_minutes', '10080', 'longest handoff one start or extension may ask for (7 days)')
ON CONFLICT (key) DO NOTHING;

-- The worker's context now says whether a conversation is handed off and when its
-- window closes: re-created with new columns by migrate.
DROP FUNCTION IF EXISTS wapipe.message_context(text, text, text[], text, text, integer, interval);
DROP FUNCTION IF EXISTS wapipe.message_contexts(jsonb, text, text[], integer, interval);
DROP FUNCTION IF EXISTS wapipe.claim_messages(text, integer, integer, text, text[], jsonb, integer, interval);
DROP FUNCTION IF EXISTS wapipe.claim_messages(text, integer, integer, text, text[], jsonb, integer, interval, jsonb);
