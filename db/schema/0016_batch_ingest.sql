-- Batch ingest (wapipe.ingest_webhooks): parsed messages remember their payload; BRIN for the time-ordered ingest columns.
-- depends: 0010_inbound_message_type 0015_autovacuum_hot_tables

ALTER TYPE wapipe.inbound_message ADD ATTRIBUTE payload_ord integer;

-- received_at only grows, so a BRIN index serves the time-range reads (retention,
-- status page series) at a fraction of a btree's cost on every ingest.
DROP INDEX wapipe.webhook_events_received_at_idx;
CREATE INDEX webhook_events_received_at_brin ON wapipe.webhook_events USING brin (received_at);
DROP INDEX wapipe.processed_messages_received_at_idx;
CREATE INDEX processed_messages_received_at_brin
  ON wapipe.processed_messages USING brin (received_at);
