-- The ingest and queue tables grow from empty to millions of rows: analyse them after
-- 1 % of change (not PostgreSQL's 10 %) so plans cached by the functions are re-made
-- while the table grows (a plan made on a tiny table seq-scans processed_messages on
-- every ingest until the next analyse), and vacuum them early so HOT updates find room.
-- depends: 0014_notify_per_ingest

ALTER TABLE wapipe.processed_messages
  SET (autovacuum_analyze_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE wapipe.conversations
  SET (autovacuum_analyze_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE wapipe.webhook_events
  SET (autovacuum_analyze_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.05);
ALTER TABLE wapipe.outbox
  SET (autovacuum_analyze_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE pgmq.q_wapipe_inbound
  SET (autovacuum_analyze_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.02);
