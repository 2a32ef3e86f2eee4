-- The breaker board counts the messages waiting for each breaker's service.
begin;
select plan(1);
select wapipe_tests.reset();
select wapipe_tests.open_breaker('waiter');
select wapipe.breaker_allow('payments');
select wapipe_tests.enqueue_text('250700000001', 'one');
select wapipe_tests.enqueue_text('250700000001', 'two');
select wapipe_tests.enqueue_text('250700000002', 'three');
select wapipe_tests.claim_and_defer('waiter');
-- Test
select results_eq($$ select name, deferred_messages from wapipe.circuit_breaker_status order by name $$,
  $$ values ('payments'::text, 0::bigint), ('waiter'::text, 2::bigint) $$,
  'two messages (a deferred head and the one behind it) wait for waiter, none for payments');
select * from finish();
rollback;
