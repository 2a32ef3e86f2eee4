-- A burst answered once: a claimed head records the queued texts behind it that its turn answers (turn_followers); the longest turn is a setting.
-- depends: 0022_deferred_messages
--
-- processed_messages.turn_followers: processed_messages.id of the texts queued behind
-- this head that its current claim took into the same agent turn (claim_messages,
-- wapipe._claim_turns), in conversation order; NULL for a turn of one. The claim
-- writes it with the head's own claim columns; completion finishes them with the
-- head, a dead letter of the head takes them along. Every new claim of the head
-- sets it again. Not indexed, so the write stays a HOT update.
ALTER TABLE wapipe.processed_messages ADD COLUMN turn_followers bigint[];
COMMENT ON COLUMN wapipe.processed_messages.turn_followers IS
  'ids of the queued texts the current claim of this head answers in the same turn (coalescing); NULL: a turn of one';

INSERT INTO wapipe.settings (key, value, description) VALUES
  ('claim.max_turn_messages', '10',
   'most messages one coalesced agent turn answers (the head included); the texts behind '
   'them wait for the next turn. Coalescing itself is per service: coalesce_seconds in WAPIPE_CONFIG')
ON CONFLICT (key) DO NOTHING;
