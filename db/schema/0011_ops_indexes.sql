-- Operations: thresholds of wapipe.system_health (health.*) and the indexes the monitoring queries need.
-- depends: 0002_core_tables

-- Thresholds of `wapipe.system_health()` / `wapipe health`; a call may override any of
-- them with its thresholds argument (key without the "health." prefix).
INSERT INTO wapipe.settings (key, value, description) VALUES
  ('health.oldest_age_degraded_seconds', '60', 'oldest unfinished inbound message older than this: degraded'),
  ('health.oldest_age_critical_seconds', '300', 'oldest unfinished inbound message older than this: critical'),
  ('health.queue_depth_degraded', '1000', 'unfinished inbound messages (queued + processing) from which: degraded'),
  ('health.queue_depth_critical', '10000', 'unfinished inbound messages from which: critical'),
  ('health.retrying_degraded', '10', 'messages waiting for a retry from which: degraded'),
  ('health.retrying_critical', '100', 'messages waiting for a retry from which: critical'),
  ('health.dead_letters_degraded', '1', 'pending (not replayed) dead letters from which: degraded'),
  ('health.dead_letters_critical', '100', 'pending dead letters from which: critical'),
  ('health.breakers_open_degraded', '1', 'open circuit breakers from which: degraded'),
  ('health.breakers_open_critical', '3', 'open circuit breakers from which: critical'),
  ('health.worker_heartbeat_stale_seconds', '30',
   'a running worker whose last heartbeat is older than this counts as dead (workers beat every 5 s)'),
  ('health.dead_worker_window_seconds', '3600',
   'a worker that died (stale heartbeat, no clean stop) within this window makes the system degraded'),
  ('health.stuck_workflow_grace_seconds', '120',
   'an active workflow this long past its expires_at is stuck (the minute expiry job missed it)'),
  ('health.stuck_workflows_degraded', '1', 'stuck workflows from which: degraded'),
  ('health.stuck_workflows_critical', '100', 'stuck workflows from which: critical'),
  ('health.stale_lock_seconds', '300',
   'a conversation lease expired this long ago is stale (the minute cleanup job missed it)'),
  ('health.stale_locks_degraded', '1', 'stale conversation leases from which: degraded'),
  ('health.outbox_age_degraded_seconds', '120', 'oldest unsent reply older than this: degraded'),
  ('health.outbox_age_critical_seconds', '900', 'oldest unsent reply older than this: critical'),
  ('health.cron_failures_degraded', '1', 'failed wapipe-* pg_cron runs in the last hour from which: degraded'),
  ('health.cron_failures_critical', '10', 'failed wapipe-* pg_cron runs in the last hour from which: critical'),
  ('health.cron_silence_degraded_seconds', '300',
   'no wapipe-* pg_cron run recorded for this long (jobs are due every minute): degraded')
ON CONFLICT (key) DO NOTHING;

-- system_health's oldest unfinished message: the first entry of this index instead of
-- a scan of every unfinished message (processed_messages_unfinished_idx is keyed by conversation).
CREATE INDEX processed_messages_unfinished_received_idx
  ON wapipe.processed_messages (received_at)
  WHERE status IN ('queued', 'processing');

-- Workflow completion rates over a recent period (monitoring query 9): workflow_states is
-- never pruned, so a time filter must not read every workflow ever started.
CREATE INDEX workflow_states_started_at_idx ON wapipe.workflow_states (started_at);

-- Replies sent in a period (monitoring query 6, received -> reply sent).
CREATE INDEX outbox_sent_at_idx ON wapipe.outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Pending dead letters whose message is still dead (system_health, the queue view,
-- `wapipe dlq`): dead messages are few, so this stays tiny and the join never scans
-- processed_messages.
CREATE INDEX processed_messages_dead_idx ON wapipe.processed_messages (id) WHERE status = 'dead';
