-- Messages waiting for an unavailable service make the system degraded, never critical: not retrying, and their age is no critical verdict.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe.register_worker('w-live', 'host-a', 101);
select wapipe_tests.enqueue_text('250700000001', 'one', 'wamid.one');
select wapipe_tests.enqueue_text('250700000001', 'two', 'wamid.two');
select wapipe_tests.enqueue_text('250700000002', 'three', 'wamid.three');
select wapipe_tests.claim_and_defer('waiter', now() + interval '1 hour', 'w-live');
select wapipe_tests.claim_and_defer('waiter', now() + interval '1 hour', 'w-live');
-- they have waited 20 minutes (critical age is 300 s)
update wapipe.processed_messages set received_at = received_at - interval '20 minutes';
-- Test
select results_eq($$ select status, reasons, retrying from wapipe.system_health() $$,
  $$ values ('degraded'::text, array['3 messages waiting for unavailable services: waiter (3)'], 0::bigint) $$,
  'degraded: three messages (two deferred heads, one behind) wait for waiter; nothing retrying');
select is((select details->'deferred_by_service' from wapipe.system_health()), '{"waiter": 3}'::jsonb,
  'details: the count per service');
select cmp_ok((select extract(epoch from oldest_message_age) from wapipe.system_health()), '>=', 1200::numeric,
  'oldest_message_age still tells the true age');
-- a message of another conversation that old is critical as before
select wapipe_tests.enqueue_text('250700000003', 'stuck', 'wamid.stuck');
update wapipe.processed_messages set received_at = received_at - interval '20 minutes' where wamid = 'wamid.stuck';
select is((select status from wapipe.system_health()), 'critical', 'an old message not waiting for a service is critical');
select * from finish();
rollback;
