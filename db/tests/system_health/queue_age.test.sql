-- The oldest unfinished message makes the system degraded past 60 s and critical past 300 s.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe.register_worker('w-live', 'host-a', 101);
select wapipe_tests.enqueue_text('250700000001', 'hi') as id \gset

select is((select status from wapipe.system_health()), 'ok', 'a fresh message with a live worker is ok');

select wapipe_tests.age_message(:id, '61 seconds');
select results_eq($$ select status, queue_depth, workers_alive from wapipe.system_health() $$,
  $$ values ('degraded'::text, 1::bigint, 1) $$, 'waiting 61 s: degraded');
select ok((select reasons[1] like 'oldest message waiting 61 s%' from wapipe.system_health()),
  'the reason names the age');
select is((select oldest_message_age from wapipe.system_health()), interval '61 seconds', 'age reported');

select wapipe_tests.age_message(:id, '240 seconds');
select is((select status from wapipe.system_health()), 'critical', 'waiting 301 s: critical');
select * from finish();
rollback;
