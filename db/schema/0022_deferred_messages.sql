-- Waiting, not failing: a message whose service is unavailable (breaker open, no healthy endpoint) is deferred without spending an attempt, out of the claim's index while it waits.
-- depends: 0020_hot_claims
--
-- processed_messages: what a deferral records. attempts counts real calls only
-- (defer_message gives back the claim's increment, as release_message_lock does);
-- deferrals counts the give-backs, deferred_since is when the wait began (the first
-- deferral: retry.max_wait_seconds counts from it), waiting_for is the service the
-- message waits for while it is deferred (NULL otherwise: a real failure clears it).
-- No index reads these columns, so the updates that set them stay HOT.
ALTER TABLE wapipe.processed_messages
  ADD COLUMN deferrals integer NOT NULL DEFAULT 0,
  ADD COLUMN deferred_since timestamptz,
  ADD COLUMN waiting_for text;

-- conversations.deferred_until: set while the conversation's head waits for its
-- service. A deferred conversation leaves conversations_claim_idx, so a claim never
-- steps over the heads of a long outage (they are the oldest, at the front of the
-- rank order): it stays O(batch) with any number of deferred heads. The claim puts
-- back those whose time has come (conversations_deferred_idx, oldest first, at most
-- a batch per claim). Claims write only the lease columns: still HOT.
ALTER TABLE wapipe.conversations ADD COLUMN deferred_until timestamptz;

DROP INDEX wapipe.conversations_claim_idx;
CREATE INDEX conversations_claim_idx
  ON wapipe.conversations (head_rank)
  WHERE head_message_id IS NOT NULL AND deferred_until IS NULL;
CREATE INDEX conversations_deferred_idx
  ON wapipe.conversations (deferred_until)
  WHERE deferred_until IS NOT NULL;

INSERT INTO wapipe.settings (key, value, description) VALUES
  ('retry.max_wait_seconds', '3600',
   'longest a message waits for an unavailable service (breaker open, no healthy endpoint) '
   'before it goes to the dead letters as service_unavailable_too_long; per service: '
   'max_wait_seconds in WAPIPE_CONFIG')
ON CONFLICT (key) DO NOTHING;
