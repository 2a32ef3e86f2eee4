-- Batch ingest (wapipe.ingest_webhooks): a parsed inbound message remembers which payload of the batch it came from.
-- depends: 0010_inbound_message_type 0015_autovacuum_hot_tables

ALTER TYPE wapipe.inbound_message ADD ATTRIBUTE payload_ord integer;
