-- Scheduling twice leaves each maintenance job exactly once, with its schedule and command.
begin;
select plan(4);

select is(wapipe.schedule_maintenance(), 11, 'eleven jobs scheduled');
select is(wapipe.schedule_maintenance(), 11, 'a second run reports the same eleven');
select results_eq(
  $$ select jobname::text collate "default", schedule, command from cron.job where jobname like 'wapipe-%' order by jobname $$,
  $$ values
     ('wapipe-breaker-history'::text, '25 * * * *'::text, 'SELECT wapipe.cleanup_breaker_history()'::text),
     ('wapipe-cron-history', '35 3 * * *',
      'DELETE FROM cron.job_run_details WHERE coalesce(end_time, start_time) < now() - interval ''7 days'''),
     ('wapipe-expire-handoffs', '* * * * *', 'SELECT wapipe.expire_handoffs()'),
     ('wapipe-expire-workflows', '* * * * *', 'SELECT count(*) FROM wapipe.expire_workflows()'),
     ('wapipe-media-retention', '55 * * * *', 'SELECT wapipe.cleanup_media()'),
     ('wapipe-memory-retention', '15 * * * *', 'SELECT wapipe.cleanup_conversation_memory()'),
     ('wapipe-message-retention', '5 * * * *', 'SELECT wapipe.cleanup_old_messages()'),
     ('wapipe-partitions', '50 * * * *', 'SELECT wapipe.maintain_partitions()'),
     ('wapipe-quarantine-retention', '45 * * * *', 'SELECT wapipe.cleanup_quarantine()'),
     ('wapipe-stale-locks', '* * * * *', 'SELECT wapipe.cleanup_stale_message_locks()'),
     ('wapipe-stuck-conversations', '* * * * *', 'SELECT wapipe.cleanup_stuck_webhook_conversations()') $$,
  'each job once, every minute / hourly / daily');

-- A job changed by hand is put back.
update cron.job set schedule = '*/5 * * * *' where jobname = 'wapipe-stale-locks';
select wapipe.schedule_maintenance();
select results_eq(
  $$ select count(*)::int, min(schedule) from cron.job where jobname = 'wapipe-stale-locks' $$,
  $$ values (1, '* * * * *'::text) $$, 'a drifted job is rescheduled, still once');

select * from finish();
rollback;
