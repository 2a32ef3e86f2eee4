-- A worker that stopped heartbeating without a clean stop degrades the system for an hour; a clean stop does not.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe.register_worker('w-crashed', 'host-a', 101);
select wapipe.register_worker('w-stopped', 'host-b', 102);
select wapipe.worker_stopped('w-stopped');
select wapipe.register_worker('w-live', 'host-c', 103);

select results_eq($$ select status, workers_alive from wapipe.system_health() $$,
  $$ values ('ok'::text, 2) $$, 'two running workers with fresh heartbeats are alive');

update wapipe.workers set heartbeat_at = now() - interval '31 seconds' where worker_id = 'w-crashed';
select results_eq($$ select status, reasons, workers_alive from wapipe.system_health() $$,
  $$ values ('degraded'::text,
             array['1 worker(s) stopped heartbeating without a clean stop: w-crashed'], 1) $$,
  'a heartbeat 31 s old: dead worker, degraded');
select is((select details->'dead_workers' from wapipe.system_health()), '["w-crashed"]'::jsonb, 'named in details');

update wapipe.workers set heartbeat_at = now() - interval '2 hours' where worker_id = 'w-crashed';
select is((select status from wapipe.system_health()), 'ok', 'a worker dead for over an hour is history');

update wapipe.workers set stopped_at = now() - interval '10 minutes', heartbeat_at = now() - interval '10 minutes'
 where worker_id = 'w-stopped';
select is((select status from wapipe.system_health()), 'ok', 'a cleanly stopped worker is never a problem');
select * from finish();
rollback;
