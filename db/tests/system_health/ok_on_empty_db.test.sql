-- An empty database is healthy: status ok, no reasons, every count zero.
begin;
select plan(4);
select wapipe_tests.reset();

select results_eq(
  $$ select status, reasons, queue_depth, oldest_message_age, in_flight, retrying, dead_letters,
            breakers_open, workers_alive, stuck_workflows, cron_failures_last_hour
       from wapipe.system_health() $$,
  $$ values ('ok'::text, '{}'::text[], 0::bigint, null::interval, 0::bigint, 0::bigint, 0::bigint,
             0, 0, 0::bigint, 0::bigint) $$,
  'ok, no reasons, nothing waiting');
select is((select count(*) from wapipe.system_health()), 1::bigint, 'always exactly one row');
select is((select details->'thresholds'->>'oldest_age_degraded_seconds' from wapipe.system_health()), '60',
  'thresholds default from the health.* settings');
select is((select jsonb_array_length(details->'cron_jobs') from wapipe.system_health()), 11,
  'the eleven wapipe-* pg_cron jobs of this database are listed');
select * from finish();
rollback;
