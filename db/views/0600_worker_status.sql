-- wapipe.worker_status: every registered worker process, alive / dead / stopped, with its heartbeat age
-- and the conversations it holds now (behind `wapipe workers`).
CREATE VIEW wapipe.worker_status AS
SELECT w.worker_id,
       w.host,
       w.pid,
       CASE WHEN w.stopped_at IS NOT NULL THEN 'stopped'
            WHEN w.heartbeat_at > now() - make_interval(secs => s.stale_seconds) THEN 'alive'
            ELSE 'dead' END AS state,
       w.started_at,
       w.heartbeat_at,
       now() - w.heartbeat_at AS heartbeat_age,
       w.stopped_at,
       coalesce(w.stopped_at, now()) - w.started_at AS uptime,
       coalesce(l.held, 0) AS held_conversations,
       w.info
FROM wapipe.workers w
CROSS JOIN (
  SELECT coalesce((SELECT (st.value #>> '{}')::double precision FROM wapipe.settings st
                   WHERE st.key = 'health.worker_heartbeat_stale_seconds'), 30) AS stale_seconds
) s
-- every worker's leases counted in one pass over conversations (no index holds the lease
-- columns, so that claims stay HOT updates: migration 0020)
LEFT JOIN (
  SELECT c.locked_by, count(*) AS held
  FROM wapipe.conversations c
  WHERE c.locked_by IS NOT NULL AND c.locked_until > now()
  GROUP BY c.locked_by
) l ON l.locked_by = w.worker_id
ORDER BY CASE WHEN w.stopped_at IS NOT NULL THEN 2
              WHEN w.heartbeat_at > now() - make_interval(secs => s.stale_seconds) THEN 0
              ELSE 1 END,
         w.heartbeat_at DESC, w.worker_id;

COMMENT ON VIEW wapipe.worker_status IS
  'Worker processes (wapipe.workers): state alive (heartbeat within health.worker_heartbeat_stale_seconds, '
  'default 30 s), dead (no clean stop and a stale heartbeat: crashed or hung) or stopped (clean shutdown); '
  'heartbeat_age; uptime (until stop); held_conversations = unexpired conversation leases it holds; '
  'info as registered. Alive first, then dead, then stopped, most recent heartbeat first.';
GRANT SELECT ON wapipe.worker_status TO wapipe_monitor;
