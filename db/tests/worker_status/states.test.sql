-- worker_status: alive, dead (stale heartbeat, no clean stop) and stopped workers, heartbeat age and held leases.
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe.register_worker('w-live', 'host-a', 101, '{"concurrency": 4}');
select wapipe.register_worker('w-dead', 'host-b', 102);
select wapipe.register_worker('w-stopped', 'host-c', 103);
select wapipe.worker_stopped('w-stopped');
update wapipe.workers set heartbeat_at = now() - interval '45 seconds' where worker_id = 'w-dead';
select wapipe_tests.enqueue_text('250700000001', 'hi');
select wapipe_tests.claim('w-live', 1);

select results_eq(
  $$ select worker_id, host, pid, state, heartbeat_age, held_conversations from wapipe.worker_status $$,
  $$ values ('w-live'::text, 'host-a'::text, 101, 'alive'::text, interval '0', 1::bigint),
            ('w-dead', 'host-b', 102, 'dead', interval '45 seconds', 0),
            ('w-stopped', 'host-c', 103, 'stopped', interval '0', 0) $$,
  'alive first, then dead, then stopped; heartbeat age; held conversations');
update wapipe.settings set value = '60' where key = 'health.worker_heartbeat_stale_seconds';
select is((select state from wapipe.worker_status where worker_id = 'w-dead'), 'alive',
  'the staleness threshold is health.worker_heartbeat_stale_seconds');
select is((select info from wapipe.worker_status where worker_id = 'w-live'), '{"concurrency": 4}'::jsonb,
  'info as registered');
select * from finish();
rollback;
