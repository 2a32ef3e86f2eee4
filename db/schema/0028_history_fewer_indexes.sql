-- Fewer bytes per stored message: history indexes that nothing needs as btrees become BRIN or go (issue 18 (c)).
-- depends: 0027_history_partitions
--
-- webhook_events_correlation_id_idx: no function, view or monitoring query looks an
-- event up by correlation id; it was a btree entry per POST (a text of up to 128
-- characters). An operator tracing a correlation id bounds the search by time
-- (received_at: daily partitions and their BRIN), docs/OPERATIONS.md section 9.
-- service_calls.called_at, outbox.created_at, outbox.sent_at: read only by time range
-- (monitoring, ai_agent_usage, system_health's last day, cleanup_old_messages' cutoff),
-- and their rows are written in time order (a reply is sent seconds after it is
-- queued), so a BRIN serves those scans at a fraction of a btree's size. A BRIN blocks
-- HOT updates like a btree does in PostgreSQL 15: nothing changes there (created_at
-- and called_at are never updated; sent_at changes with status, which other indexes
-- of outbox already hold). Per-agent scans keep service_calls_service_idx.
-- Index changes only, no table rewrite: docs/OPERATIONS.md (upgrading) for how long.
DROP INDEX wapipe.webhook_events_correlation_id_idx;
DROP INDEX wapipe.service_calls_called_at_idx;
CREATE INDEX service_calls_called_at_brin ON wapipe.service_calls USING brin (called_at);
DROP INDEX wapipe.outbox_created_at_idx;
CREATE INDEX outbox_created_at_brin ON wapipe.outbox USING brin (created_at);
DROP INDEX wapipe.outbox_sent_at_idx;
CREATE INDEX outbox_sent_at_brin ON wapipe.outbox USING brin (sent_at);
