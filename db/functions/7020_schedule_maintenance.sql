-- wapipe.schedule_maintenance: put the pg_cron maintenance jobs in place (idempotent).
-- Returns how many maintenance jobs are scheduled (one row each in cron.job).
--
-- Called by `wapipe db migrate` on every run. Under an advisory xact lock so two
-- concurrent migrates cannot both create a job. A job that already has the wanted
-- schedule, command and database is left alone (its jobid and run history stay);
-- a changed one is unscheduled and scheduled again. Hourly and daily jobs run at
-- different minutes so they do not all start together.
CREATE OR REPLACE FUNCTION wapipe.schedule_maintenance()
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  job record;
  scheduled integer := 0;
BEGIN
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('wapipe.schedule_maintenance'));

  FOR job IN
    SELECT j.jobname, j.schedule, j.command
    FROM (VALUES
      ('wapipe-stale-locks', '* * * * *', 'SELECT wapipe.cleanup_stale_message_locks()'),
      ('wapipe-stuck-conversations', '* * * * *', 'SELECT wapipe.cleanup_stuck_webhook_conversations()'),
      ('wapipe-expire-workflows', '* * * * *', 'SELECT count(*) FROM wapipe.expire_workflows()'),
      ('wapipe-expire-handoffs', '* * * * *', 'SELECT wapipe.expire_handoffs()'),
      ('wapipe-message-retention', '5 * * * *', 'SELECT wapipe.cleanup_old_messages()'),
      ('wapipe-memory-retention', '15 * * * *', 'SELECT wapipe.cleanup_conversation_memory()'),
      ('wapipe-breaker-history', '25 * * * *', 'SELECT wapipe.cleanup_breaker_history()'),
      ('wapipe-quarantine-retention', '45 * * * *', 'SELECT wapipe.cleanup_quarantine()'),
      ('wapipe-media-retention', '55 * * * *', 'SELECT wapipe.cleanup_media()'),
      ('wapipe-partitions', '50 * * * *', 'SELECT wapipe.maintain_partitions()'),
      -- pg_cron never trims its own run log.
      ('wapipe-cron-history', '35 3 * * *',
       'DELETE FROM cron.job_run_details WHERE coalesce(end_time, start_time) < now() - interval ''7 days''')
    ) AS j(jobname, schedule, command)
  LOOP
    IF NOT EXISTS (SELECT 1 FROM cron.job c
                   WHERE c.jobname = job.jobname AND c.schedule = job.schedule
                     AND c.command = job.command AND c.database = pg_catalog.current_database()
                     AND c.active) THEN
      IF EXISTS (SELECT 1 FROM cron.job c WHERE c.jobname = job.jobname) THEN
        PERFORM cron.unschedule(job.jobname::name);
      END IF;
      PERFORM cron.schedule(job.jobname, job.schedule, job.command);
    END IF;
    scheduled := scheduled + 1;
  END LOOP;
  RETURN scheduled;
END
$$;
COMMENT ON FUNCTION wapipe.schedule_maintenance() IS
  'Idempotently schedule the pg_cron maintenance jobs (wapipe-stale-locks, wapipe-stuck-conversations, '
  'wapipe-expire-workflows, wapipe-expire-handoffs every minute; wapipe-message-retention, wapipe-memory-retention, '
  'wapipe-breaker-history, wapipe-quarantine-retention, wapipe-media-retention, wapipe-partitions hourly; wapipe-cron-history daily). Returns the number of jobs. Owner only.';
REVOKE ALL ON FUNCTION wapipe.schedule_maintenance() FROM PUBLIC;
