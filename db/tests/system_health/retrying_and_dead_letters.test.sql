-- Messages backing off for a retry and pending dead letters degrade, then go critical, at their thresholds.
begin;
select plan(6);
select wapipe_tests.reset();
select wapipe.register_worker('w-live', 'host-a', 101);
select wapipe_tests.enqueue_text('250700000001', 'a');
select wapipe_tests.fail_n_times(1, 'w-live');

select results_eq($$ select status, retrying from wapipe.system_health() $$,
  $$ values ('ok'::text, 1::bigint) $$, 'one retrying message is under the default threshold (10)');
select results_eq($$ select status, reasons from wapipe.system_health('{"retrying_degraded": 1}') $$,
  $$ values ('degraded'::text, array['1 messages retrying (degraded at 1)']) $$, 'retrying at threshold 1: degraded');

select wapipe_tests.fail_n_times(2, 'w-live');
select results_eq($$ select status, reasons, dead_letters, retrying, queue_depth from wapipe.system_health() $$,
  $$ values ('degraded'::text, array['1 dead letters (degraded at 1)'], 1::bigint, 0::bigint, 0::bigint) $$,
  'after max attempts: one dead letter, degraded');
select is((select status from wapipe.system_health('{"dead_letters_critical": 1}')), 'critical',
  'dead letters at the critical threshold: critical');

select wapipe.requeue_dead_letters(ids => (select array_agg(id) from wapipe.dead_letters));
select results_eq($$ select dead_letters, queue_depth from wapipe.system_health() $$,
  $$ values (0::bigint, 1::bigint) $$, 'a replayed dead letter no longer counts; it is queued again');

select results_eq($$ select status, retrying from wapipe.system_health('{"retrying_degraded": 1}') $$,
  $$ values ('ok'::text, 0::bigint) $$, 'a replay starts at attempt 0, so it is not retrying');
select * from finish();
rollback;
