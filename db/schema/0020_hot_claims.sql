-- Claims are HOT updates: no index of conversations holds a lease column.
-- depends: 0019_fewer_index_writes_per_message
--
-- Every claim writes locked_by, locked_until and locked_at on its conversation.
-- With conversations_locked_idx (locked_until WHERE locked_by IS NOT NULL) each
-- claim was a non-HOT update: a new entry in all three indexes of the row, and one
-- more dead entry near the front of conversations_claim_idx for the next claims to
-- step over. Without it the claim stays on the row's page (fillfactor 70 leaves the
-- room): 17 instead of 20 index entries and ~8 % less WAL per handled message.
-- What read the index reads the table instead: the minute cleanup
-- (cleanup_stale_message_locks, twice a minute in all), and the operator views and
-- health checks, on demand (one pass each; wapipe.worker_status counts every
-- worker's leases in one pass).
DROP INDEX wapipe.conversations_locked_idx;
ALTER TABLE wapipe.conversations SET (fillfactor = 70);
