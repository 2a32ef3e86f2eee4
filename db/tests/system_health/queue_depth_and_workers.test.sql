-- Queue depth past its thresholds, and messages waiting with no live worker, are reported.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'a');
select wapipe_tests.enqueue_text('250700000002', 'b');
select wapipe_tests.enqueue_text('250700000003', 'c');

select results_eq($$ select status, reasons from wapipe.system_health() $$,
  $$ values ('critical'::text, array['no live worker while 3 messages wait']) $$,
  'work waiting and no worker alive: critical');

select wapipe.register_worker('w-live', 'host-a', 101);
select is((select status from wapipe.system_health()), 'ok', 'with a live worker, 3 fresh messages are ok');
select results_eq($$ select status, reasons from wapipe.system_health('{"queue_depth_degraded": 3}') $$,
  $$ values ('degraded'::text, array['queue depth 3 (degraded at 3)']) $$, 'depth 3 at threshold 3: degraded');
select is((select status from wapipe.system_health('{"queue_depth_degraded": 2, "queue_depth_critical": 3}')),
  'critical', 'depth 3 at critical threshold 3: critical');

-- one claimed: in flight
select wapipe_tests.claim('w-live', 1);
select results_eq($$ select queue_depth, in_flight from wapipe.system_health() $$,
  $$ values (3::bigint, 1::bigint) $$, 'a claimed message counts in depth and in flight');
select * from finish();
rollback;
