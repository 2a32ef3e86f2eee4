-- A worker registers, heartbeats, stops, and can register again.
begin;
select plan(7);
select wapipe_tests.reset();

select wapipe.register_worker('w1', 'host-a', 4242, '{"version": "1.0"}');
select results_eq(
  $$ select host, pid, info, started_at = now(), heartbeat_at = now(), stopped_at from wapipe.workers $$,
  $$ values ('host-a'::text, 4242, '{"version": "1.0"}'::jsonb, true, true, null::timestamptz) $$,
  'registered now, running');
update wapipe.workers set heartbeat_at = now() - interval '1 minute';
select ok(wapipe.worker_heartbeat('w1'), 'a heartbeat of a running worker is recorded');
select is((select heartbeat_at from wapipe.workers), now(), 'heartbeat_at moved to now');
select ok(not wapipe.worker_heartbeat('nobody'), 'an unknown worker gets false');
select wapipe.worker_stopped('w1');
select ok(not wapipe.worker_heartbeat('w1'), 'a stopped worker gets false (it must register again)');
select wapipe.register_worker('w1', 'host-b', 7);
select results_eq($$ select host, pid, info, stopped_at from wapipe.workers $$,
  $$ values ('host-b'::text, 7, '{}'::jsonb, null::timestamptz) $$, 're-registering restarts the row');
select throws_ok($$ select wapipe.register_worker('', 'h', 1) $$, '22023', null, 'an empty worker_id is refused');

select * from finish();
rollback;
