-- Failed runs of the wapipe-* pg_cron jobs in the last hour, paused jobs and a silent pg_cron are reported.
begin;
select plan(7);
select wapipe_tests.reset();
-- only runs written here count (pg_cron's own runs of this database are hidden for the test)
delete from cron.job_run_details;

insert into cron.job_run_details (jobid, runid, database, username, command, status, return_message, start_time, end_time)
select j.jobid, 900001, current_database(), 'postgres', j.command, 'succeeded', 'SELECT 1', now() - interval '20 seconds', now() - interval '19 seconds'
from cron.job j where j.jobname = 'wapipe-stale-locks';
select results_eq($$ select status, cron_failures_last_hour, last_cron_run from wapipe.system_health() $$,
  $$ values ('ok'::text, 0::bigint, now() - interval '20 seconds') $$, 'a recent successful run: ok');

insert into cron.job_run_details (jobid, runid, database, username, command, status, return_message, start_time, end_time)
select j.jobid, 900002, current_database(), 'postgres', j.command, 'failed',
       E'ERROR:  deadlock detected\nDETAIL: ...', now() - interval '10 seconds', now() - interval '9 seconds'
from cron.job j where j.jobname = 'wapipe-expire-workflows';
select results_eq($$ select status, reasons, cron_failures_last_hour from wapipe.system_health() $$,
  $$ values ('degraded'::text,
             array['1 failed pg_cron run(s) in the last hour; last: wapipe-expire-workflows: ERROR:  deadlock detected'],
             1::bigint) $$, 'a failed run in the last hour: degraded, with the job and its first error line');
select is((select status from wapipe.system_health('{"cron_failures_critical": 1}')), 'critical',
  'failures at the critical threshold: critical');

update cron.job_run_details set start_time = now() - interval '61 minutes' where runid = 900002;
select is((select cron_failures_last_hour from wapipe.system_health()), 0::bigint, 'older failures do not count');

update cron.job_run_details set start_time = now() - interval '301 seconds' where runid = 900001;
select ok((select status = 'degraded' and reasons[1] like 'no wapipe pg_cron run since 301 s%'
             from wapipe.system_health()), 'no run for 301 s: pg_cron silent, degraded');

update cron.job_run_details set start_time = now() - interval '5 seconds' where runid = 900001;
update cron.job set active = false where jobname = 'wapipe-stale-locks';
select results_eq($$ select status, reasons from wapipe.system_health() $$,
  $$ values ('degraded'::text, array['pg_cron jobs paused: wapipe-stale-locks']) $$, 'a paused job: degraded');
select is((select d->>'last_status' from wapipe.system_health() h,
                  jsonb_array_elements(h.details->'cron_jobs') d where d->>'job' = 'wapipe-stale-locks'),
  'succeeded', 'details list each job with its last run status');
select * from finish();
rollback;
