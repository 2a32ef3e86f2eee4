-- The sender's claim walks due outbox rows in its own order (next_attempt_at, id) and stops at its batch.
-- depends: 0016_batch_ingest
--
-- outbox_pending_idx held next_attempt_at only, so claim_outbox read every due row,
-- checked each one's recipient and sorted them all to return the first few: 42 ms per
-- claim with 19,000 replies waiting (a Graph API outage), growing with the backlog.
-- With id in the index the walk is already in the claim's order.
CREATE INDEX outbox_due_idx ON wapipe.outbox (next_attempt_at, id) WHERE status IN ('pending', 'sending');
DROP INDEX wapipe.outbox_pending_idx;
