-- Status changes become HOT updates: no index of processed_messages references status; last_inbound_at replaces the 24-hour-window index.
-- depends: 0008_outbox_sender 0011_ops_indexes

-- An index whose key or predicate mentions `status` turns every status change
-- (queued -> processing at each claim, back to queued at each retry) into a
-- non-HOT update that inserts the row into every index again. Unfinished is
-- `processed_at IS NULL` instead: processed_at is set exactly when a message
-- finishes (done or dead) and cleared when a dead letter is replayed, which this
-- constraint holds every writer to.
ALTER TABLE wapipe.processed_messages
  ADD CONSTRAINT processed_messages_processed_at_iff_finished
  CHECK ((status IN ('done', 'dead')) = (processed_at IS NOT NULL));

DROP INDEX wapipe.processed_messages_unfinished_idx;
CREATE INDEX processed_messages_unfinished_idx
  ON wapipe.processed_messages (conversation_key, wa_timestamp, id)
  WHERE processed_at IS NULL;

DROP INDEX wapipe.processed_messages_unfinished_received_idx;
CREATE INDEX processed_messages_unfinished_received_idx
  ON wapipe.processed_messages (received_at)
  WHERE processed_at IS NULL;

DROP INDEX wapipe.processed_messages_finished_idx;
CREATE INDEX processed_messages_finished_idx
  ON wapipe.processed_messages (processed_at)
  WHERE processed_at IS NOT NULL;

-- Pending dead letters are found through dead_letters_pending_idx and their message
-- by primary key; an index on status = 'dead' is not needed for that.
DROP INDEX wapipe.processed_messages_dead_idx;

-- Room on each page for the new version of a row, so claim/retry updates stay on
-- the page (HOT). Applies to pages written from now on.
ALTER TABLE wapipe.processed_messages SET (fillfactor = 85);

-- The 24-hour customer-service window without an index entry per ingest: a
-- conversation remembers the newest WhatsApp time of its finished messages (kept
-- when a lease ends on a finished head, the row write that happens anyway); the
-- unfinished ones are read from processed_messages_unfinished_idx.
ALTER TABLE wapipe.conversations ADD COLUMN last_inbound_at timestamptz;
UPDATE wapipe.conversations c
   SET last_inbound_at = f.last_at
  FROM (SELECT m.conversation_key, max(m.wa_timestamp) AS last_at
        FROM wapipe.processed_messages m
        WHERE m.processed_at IS NOT NULL
        GROUP BY m.conversation_key) f
 WHERE c.conversation_key = f.conversation_key;
DROP INDEX wapipe.processed_messages_last_inbound_idx;
