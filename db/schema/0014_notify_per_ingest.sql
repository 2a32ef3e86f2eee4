-- Workers are woken by ingest_webhook / requeue_dead_letters (one NOTIFY per call) instead of pgmq's per-row insert trigger.
-- depends: 0007_worker_notify 0013_hot_status_updates

-- pgmq's trigger UPDATEs one shared throttle row for every inserted queue row, so
-- concurrent ingests queue behind each other's row lock until commit. The functions
-- now notify the same channel ('pgmq.q_wapipe_inbound.INSERT') themselves, at most
-- one transaction at a time (wapipe._wake_workers).
DO $$
BEGIN
  PERFORM pgmq.disable_notify_insert('wapipe_inbound');
END
$$;
