-- Fewer index entries written per message: memory and rate-limit updates stay on their page (HOT), a reply writes no index entry for the wamid it does not have yet.
-- depends: 0018_memory_lookups_by_user
--
-- Every handled message updates its memory session and its sender's rate-limit
-- bucket. ai_conversation_memory_recent_idx (user_phone, agent_type,
-- last_activity_at) and rate_limit_buckets_updated_at_idx made each of those
-- updates a non-HOT one: a new entry in every index of the row. A user's sessions
-- are found through the unique (user_phone, agent_type, session_id) index, which
-- starts with the same columns (a user has a few sessions per agent: one per
-- 30-minute gap, kept 7 days), and the daily bucket cleanup reads the table once.
-- Room on each page keeps the new versions there.
DROP INDEX wapipe.ai_conversation_memory_recent_idx;
ALTER TABLE wapipe.ai_conversation_memory SET (fillfactor = 80);

DROP INDEX wapipe.rate_limit_buckets_updated_at_idx;
ALTER TABLE wapipe.rate_limit_buckets SET (fillfactor = 80);

-- A reply is queued without a wamid; only sent ones need the uniqueness.
ALTER TABLE wapipe.outbox DROP CONSTRAINT outbox_sent_wamid_key;
CREATE UNIQUE INDEX outbox_sent_wamid_key ON wapipe.outbox (sent_wamid) WHERE sent_wamid IS NOT NULL;
