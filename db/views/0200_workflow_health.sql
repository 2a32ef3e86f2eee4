-- wapipe.workflow_health: multi-step workflows by type (one row per workflow_type).
CREATE VIEW wapipe.workflow_health AS
SELECT w.workflow_type,
       count(*) FILTER (WHERE w.status = 'active') AS active,
       count(*) FILTER (WHERE w.status = 'active' AND w.expires_at <= now()) AS overdue,
       count(*) FILTER (WHERE w.status = 'completed') AS completed,
       count(*) FILTER (WHERE w.status = 'failed') AS failed,
       count(*) FILTER (WHERE w.status = 'expired') AS expired,
       round(count(*) FILTER (WHERE w.status = 'completed')::numeric
             / nullif(count(*) FILTER (WHERE w.status <> 'active'), 0), 4) AS completion_rate,
       avg(coalesce(w.finished_at, w.updated_at) - w.started_at)
         FILTER (WHERE w.status = 'completed') AS avg_completed_duration,
       max(w.started_at) AS last_started_at
FROM wapipe.workflow_states w
GROUP BY w.workflow_type
ORDER BY w.workflow_type;

COMMENT ON VIEW wapipe.workflow_health IS
  'Workflows by type over the retained rows: active, overdue (active past expires_at, not yet expired '
  'by the minute job), completed, failed, expired; completion_rate = completed / finished '
  '(completed + failed + expired; NULL when none finished); avg_completed_duration = mean '
  'finished_at - started_at of completed ones.';
GRANT SELECT ON wapipe.workflow_health TO wapipe_monitor;
