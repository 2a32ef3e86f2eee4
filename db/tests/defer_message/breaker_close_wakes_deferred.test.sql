-- When the breaker closes (its trials succeed), the messages deferred for it are claimable at once.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe.breaker_configure('waiter', 'agent', open_seconds => 120, half_open_calls => 1);
select wapipe_tests.open_breaker('waiter');
select wapipe_tests.enqueue_text('250700000001', 'hi');
select wapipe_tests.enqueue_text('250700000002', 'hi');
select wapipe_tests.claim_and_defer('waiter');
select wapipe_tests.claim_and_defer('waiter');
select is_empty($$ select * from wapipe.get_next_queue_message('worker-2', 30, 10) $$, 'both wait');
select is(wapipe.breaker_record('waiter', true, 10), 'open', 'a success while open wakes nothing');
select is_empty($$ select * from wapipe.get_next_queue_message('worker-2', 30, 10) $$, 'still waiting');
-- Test: the trial is due, taken and succeeds
select wapipe_tests.age_breaker('waiter', 121);
select wapipe.breaker_allow('waiter');
select wapipe.breaker_record('waiter', true, 10);
select is((select count(*) from wapipe.get_next_queue_message('worker-2', 30, 10)), 2::bigint,
  'closed: both claimable now, long before their deferral time');
select * from finish();
rollback;
